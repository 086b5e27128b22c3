/* Threads the interpreter did not start: each turn calls PyGILState_Ensure,
 * a Python callable and PyGILState_Release, so a thread state is created
 * and linked (without the GIL), then unlinked and freed, every turn.
 * Built by the tests (gcc -shared -fPIC -pthread); the Python symbols are
 * the interpreter's own, found when ctypes loads this file. */
#include <pthread.h>
#include <unistd.h>

typedef struct _object PyObject;
typedef int PyGILState_STATE;
extern PyGILState_STATE PyGILState_Ensure(void);
extern void PyGILState_Release(PyGILState_STATE);
extern PyObject *PyObject_CallNoArgs(PyObject *);
extern void Py_IncRef(PyObject *);
extern void Py_DecRef(PyObject *);
extern void PyErr_Print(void);

static void *turns(void *callable)
{
    for (;;) {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallNoArgs((PyObject *)callable);
        if (r)
            Py_DecRef(r);
        else
            PyErr_Print();
        PyGILState_Release(st);
        usleep(200);
    }
    return 0;
}

/* start runs callable in n new native threads, for ever. */
int start(PyObject *callable, int n)
{
    Py_IncRef(callable);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, 0, turns, callable) != 0)
            return -1;
        pthread_detach(t);
    }
    return 0;
}
