// Package layout holds the byte offsets pyscope needs inside CPython's
// runtime structures, per minor version and build (default or
// free-threaded).
//
// Offsets are never typed by hand: 3.10–3.13 and free-threaded 3.13 tables
// are generated from the DWARF of reference builds (see gen/), and on 3.13+
// every field that _Py_DebugOffsets describes is taken from the target
// itself. pyscope knows the 3.13, 3.14 and 3.15 forms of that struct.
//
// Tags:
//
//	dwarf:"Struct.member.sub|Alt.member"  where to find the offset in DWARF;
//	                                       alternatives are tried in order.
//	                                       "sizeof:Struct" gives a struct size.
//	dbg:"group.field"                      the _Py_DebugOffsets field (3.13+).
//	dbg:"group.a-group.b"                  the difference of two of them.
//	dwarf:"bit:Struct.member.bitfield"     a bit number inside the member
//	                                       that holds the bitfield.
//
// An offset of -1 means the field does not exist in that version.
package layout

// Off is a byte offset inside a structure, or -1 when absent.
type Off int64

// Valid reports whether the field exists in this version.
func (o Off) Valid() bool { return o >= 0 }

// Layout is the set of offsets for one CPython build.
type Layout struct {
	Version string // "3.12"; the minor version the table was made for
	Source  string // where the offsets came from: "table 3.12.3", "_Py_DebugOffsets", "DWARF <file>"
	// Unknown lists fields ("Code.FirstTraceable") that may exist in this
	// version but that no sound source gave; they are -1 too.
	Unknown []string
	// FreeThreaded is a Py_GIL_DISABLED build (PEP 703): a 32-byte object
	// header, no GC header before objects, no GIL unless re-enabled.
	FreeThreaded bool

	Runtime  RuntimeOffsets
	Interp   InterpOffsets
	Thread   ThreadOffsets
	Frame    FrameOffsets    // _PyInterpreterFrame (3.11+)
	FrameObj FrameObjOffsets // PyFrameObject (3.10 frames; 3.11+ frame objects)
	Code     CodeOffsets
	Object   ObjectOffsets
	Type     TypeOffsets
	// StaticType: where 3.12+ keeps a static builtin type's dict.
	StaticType StaticTypeOffsets
	Unicode    UnicodeOffsets
	Bytes      BytesOffsets
	Tuple      TupleOffsets
	List       ListOffsets
	Dict       DictOffsets
	Set        SetOffsets
	Long       LongOffsets
	Float      FloatOffsets
	Complex    ComplexOffsets
	Cell       CellOffsets
	Func       FuncOffsets
	Module     ModuleOffsets
	Gen        GenOffsets
	Exc        ExcOffsets
	Tb         TracebackOffsets
	GIL        GILOffsets
	// Builtin functions and methods: their repr names the C function.
	CFunction CFunctionOffsets
	MethodDef MethodDefOffsets
	// asyncio (the tasks analysis): _asyncio's C futures and tasks and the
	// objects a coroutine chain or a done callback passes through. On 3.14
	// the Task fields come from _asyncio's .AsyncioDebug (WithAsyncio).
	Future      FutureOffsets
	Task        TaskOffsets
	FutureIter  FutureIterOffsets
	AsyncGen    AsyncGenOffsets
	Weakref     WeakrefOffsets
	Method      MethodOffsets
	Partial     PartialOffsets
	RunningLoop RunningLoopOffsets
	LLNode      LLNodeOffsets
	// Synchronisation primitives (the lock analysis).
	Sync SyncOffsets
	// The garbage collector's lists of tracked objects (where greenlets
	// are found) and whether it is collecting (the lock analysis).
	GC GCOffsets
}

type RuntimeOffsets struct {
	InterpretersHead Off `dwarf:"_PyRuntimeState.interpreters.head" dbg:"runtime_state.interpreters_head"`
	InterpretersMain Off `dwarf:"_PyRuntimeState.interpreters.main"`
	// 3.10/3.11: the GIL lives in the runtime.
	CevalGIL      Off `dwarf:"_PyRuntimeState.ceval.gil"`
	TstateCurrent Off `dwarf:"_PyRuntimeState.gilstate.tstate_current|_PyRuntimeState.tstate_current"`
	MainThread    Off `dwarf:"_PyRuntimeState.main_thread"`
	// The thread state finalizing the runtime; NULL until Py_Finalize.
	Finalizing Off `dwarf:"_PyRuntimeState._finalizing" dbg:"runtime_state.finalizing"`
}

type InterpOffsets struct {
	Size        Off `dwarf:"sizeof:_is" dbg:"interpreter_state.size"`
	Next        Off `dwarf:"_is.next" dbg:"interpreter_state.next"`
	ID          Off `dwarf:"_is.id" dbg:"interpreter_state.id"`
	ThreadsHead Off `dwarf:"_is.threads.head|_is.tstate_head" dbg:"interpreter_state.threads_head"`
	ThreadsMain Off `dwarf:"_is.threads.main" dbg:"interpreter_state.threads_main"`
	Modules     Off `dwarf:"_is.imports.modules|_is.modules" dbg:"interpreter_state.imports_modules"`
	Sysdict     Off `dwarf:"_is.sysdict" dbg:"interpreter_state.sysdict"`
	Builtins    Off `dwarf:"_is.builtins" dbg:"interpreter_state.builtins"`
	// 3.12+: pointer to this interpreter's GIL (normally &interp->_gil).
	CevalGIL        Off `dwarf:"_is.ceval.gil" dbg:"interpreter_state.ceval_gil"`
	GILRuntimeState Off `dwarf:"_is._gil" dbg:"interpreter_state.gil_runtime_state"`
	// 3.14: tasks of threads that have exited (asyncio debug offsets).
	AsyncioTasksHead Off `dwarf:"_is.asyncio_tasks_head" adbg:"asyncio_interpreter_state.asyncio_tasks_head"`
	// The garbage collector's state (struct _gc_runtime_state).
	GC Off `dwarf:"_is.gc" dbg:"interpreter_state.gc"`
	// 3.12+: the per-interpreter state of static builtin types (their
	// tp_dict above all), an array of StaticType indexed by the type's
	// tp_subclasses - 1; 3.13+ keeps the extensions' static types apart.
	StaticTypes    Off `dwarf:"_is.types.builtins.initialized|_is.types.builtins"`
	StaticExtTypes Off `dwarf:"_is.types.for_extensions.initialized"`
}

type ThreadOffsets struct {
	Size           Off `dwarf:"sizeof:_ts" dbg:"thread_state.size"`
	Prev           Off `dwarf:"_ts.prev" dbg:"thread_state.prev"`
	Next           Off `dwarf:"_ts.next" dbg:"thread_state.next"`
	Interp         Off `dwarf:"_ts.interp" dbg:"thread_state.interp"`
	Frame          Off `dwarf:"_ts.frame"`                                          // 3.10: PyFrameObject*
	CFrame         Off `dwarf:"_ts.cframe"`                                         // 3.11/3.12: _PyCFrame*
	CFrameCurrent  Off `dwarf:"_PyCFrame.current_frame"`                            // 3.11/3.12
	CurrentFrame   Off `dwarf:"_ts.current_frame" dbg:"thread_state.current_frame"` // 3.13+
	ThreadID       Off `dwarf:"_ts.thread_id" dbg:"thread_state.thread_id"`
	NativeThreadID Off `dwarf:"_ts.native_thread_id" dbg:"thread_state.native_thread_id"`
	Status         Off `dwarf:"_ts._status" dbg:"thread_state.status"` // 32-bit bitfield word
	// 3.13: holds_gil is bit StatusHoldsGILBit of the _status word.
	StatusHoldsGILBit Off `dwarf:"bit:_ts._status.holds_gil"`
	HoldsGIL          Off `dwarf:"_ts.holds_gil" dbg:"thread_state.holds_gil"` // 3.14+: an int
	// 3.13+: int state, _Py_THREAD_DETACHED 0, ATTACHED 1, SUSPENDED 2.
	State          Off `dwarf:"_ts.state"`
	DatastackChunk Off `dwarf:"_ts.datastack_chunk" dbg:"thread_state.datastack_chunk"`
	// PyThreadState_GetDict(): 3.10–3.12 keep the running event loop there.
	Dict Off `dwarf:"_ts.dict"`
	// 3.13+: _PyThreadStateImpl's running loop; 3.14: also the running
	// task and the list of the thread's tasks (asyncio debug offsets).
	AsyncioRunningLoop Off `dwarf:"_PyThreadStateImpl.asyncio_running_loop" adbg:"asyncio_thread_state.asyncio_running_loop"`
	AsyncioRunningTask Off `dwarf:"_PyThreadStateImpl.asyncio_running_task" adbg:"asyncio_thread_state.asyncio_running_task"`
	AsyncioTasksHead   Off `dwarf:"_PyThreadStateImpl.asyncio_tasks_head" adbg:"asyncio_thread_state.asyncio_tasks_head"`
	// 3.10-3.12: each eval-loop call keeps a _PyCFrame on its C stack,
	// linked to its caller's; the thread state's root one ends the chain.
	CFramePrevious Off `dwarf:"_PyCFrame.previous|_cframe.previous"`
}

// FrameOffsets describes _PyInterpreterFrame (3.11+).
type FrameOffsets struct {
	Size       Off `dwarf:"sizeof:_PyInterpreterFrame" dbg:"interpreter_frame.size"`
	Executable Off `dwarf:"_PyInterpreterFrame.f_executable|_PyInterpreterFrame.f_code" dbg:"interpreter_frame.executable"`
	Previous   Off `dwarf:"_PyInterpreterFrame.previous" dbg:"interpreter_frame.previous"`
	FuncObj    Off `dwarf:"_PyInterpreterFrame.f_funcobj|_PyInterpreterFrame.f_func"`
	Globals    Off `dwarf:"_PyInterpreterFrame.f_globals"`
	Builtins   Off `dwarf:"_PyInterpreterFrame.f_builtins"`
	Locals     Off `dwarf:"_PyInterpreterFrame.f_locals"`
	FrameObj   Off `dwarf:"_PyInterpreterFrame.frame_obj"`
	InstrPtr   Off `dwarf:"_PyInterpreterFrame.instr_ptr|_PyInterpreterFrame.prev_instr" dbg:"interpreter_frame.instr_ptr"`
	// 3.11–3.13: int stacktop, an index into localsplus; 3.14: a pointer.
	// Saved only while the frame is not executing.
	StackTop   Off `dwarf:"_PyInterpreterFrame.stackpointer|_PyInterpreterFrame.stacktop" dbg:"interpreter_frame.stackpointer"`
	Owner      Off `dwarf:"_PyInterpreterFrame.owner" dbg:"interpreter_frame.owner"`
	IsEntry    Off `dwarf:"_PyInterpreterFrame.is_entry"` // 3.11
	Localsplus Off `dwarf:"_PyInterpreterFrame.localsplus" dbg:"interpreter_frame.localsplus"`
	TLBCIndex  Off `dwarf:"_PyInterpreterFrame.tlbc_index" dbg:"interpreter_frame.tlbc_index"`
}

// FrameObjOffsets describes PyFrameObject.
type FrameObjOffsets struct {
	Back       Off `dwarf:"_frame.f_back"`
	Code       Off `dwarf:"_frame.f_code"`
	Lasti      Off `dwarf:"_frame.f_lasti"` // 3.10: in code units, -1 before start
	Lineno     Off `dwarf:"_frame.f_lineno"`
	Globals    Off `dwarf:"_frame.f_globals"`
	Builtins   Off `dwarf:"_frame.f_builtins"`
	Locals     Off `dwarf:"_frame.f_locals"`
	Localsplus Off `dwarf:"_frame.f_localsplus"` // 3.10
	Frame      Off `dwarf:"_frame.f_frame"`      // 3.11+: _PyInterpreterFrame*
	State      Off `dwarf:"_frame.f_state"`      // 3.10
	Gen        Off `dwarf:"_frame.f_gen"`        // 3.10
	// 3.10: the value stack, where a suspended `yield from` keeps its
	// iterator, and the block stack (with and try blocks).
	Valuestack Off `dwarf:"_frame.f_valuestack"`
	Stackdepth Off `dwarf:"_frame.f_stackdepth"`
	Iblock     Off `dwarf:"_frame.f_iblock"`
	Blockstack Off `dwarf:"_frame.f_blockstack"`
	BlockSize  Off `dwarf:"sizeof:PyTryBlock"`
	BlockType  Off `dwarf:"PyTryBlock.b_type"`
	BlockLevel Off `dwarf:"PyTryBlock.b_level"`
	// b_handler is in code units.
	BlockHandler Off `dwarf:"PyTryBlock.b_handler"`
}

type CodeOffsets struct {
	Size            Off `dwarf:"sizeof:PyCodeObject" dbg:"code_object.size"`
	Filename        Off `dwarf:"PyCodeObject.co_filename" dbg:"code_object.filename"`
	Name            Off `dwarf:"PyCodeObject.co_name" dbg:"code_object.name"`
	Qualname        Off `dwarf:"PyCodeObject.co_qualname" dbg:"code_object.qualname"`
	Linetable       Off `dwarf:"PyCodeObject.co_linetable" dbg:"code_object.linetable"`
	Firstlineno     Off `dwarf:"PyCodeObject.co_firstlineno" dbg:"code_object.firstlineno"`
	Argcount        Off `dwarf:"PyCodeObject.co_argcount" dbg:"code_object.argcount"`
	PosOnlyArgcount Off `dwarf:"PyCodeObject.co_posonlyargcount"`
	KwOnlyArgcount  Off `dwarf:"PyCodeObject.co_kwonlyargcount"`
	Flags           Off `dwarf:"PyCodeObject.co_flags"`
	Nlocals         Off `dwarf:"PyCodeObject.co_nlocals"`
	NlocalsPlus     Off `dwarf:"PyCodeObject.co_nlocalsplus"`
	Localsplusnames Off `dwarf:"PyCodeObject.co_localsplusnames" dbg:"code_object.localsplusnames"`
	Localspluskinds Off `dwarf:"PyCodeObject.co_localspluskinds" dbg:"code_object.localspluskinds"`
	Varnames        Off `dwarf:"PyCodeObject.co_varnames"` // 3.10
	Cellvars        Off `dwarf:"PyCodeObject.co_cellvars"` // 3.10
	Freevars        Off `dwarf:"PyCodeObject.co_freevars"` // 3.10
	Cell2Arg        Off `dwarf:"PyCodeObject.co_cell2arg"` // 3.10
	Code            Off `dwarf:"PyCodeObject.co_code"`     // 3.10: bytes object
	CodeAdaptive    Off `dwarf:"PyCodeObject.co_code_adaptive" dbg:"code_object.co_code_adaptive"`
	FirstTraceable  Off `dwarf:"PyCodeObject._co_firsttraceable"`
	TLBC            Off `dwarf:"PyCodeObject.co_tlbc" dbg:"code_object.co_tlbc"`
	Stacksize       Off `dwarf:"PyCodeObject.co_stacksize"`
	Exceptiontable  Off `dwarf:"PyCodeObject.co_exceptiontable"` // 3.11+: bytes
	Names           Off `dwarf:"PyCodeObject.co_names"`
}

type ObjectOffsets struct {
	Refcnt   Off `dwarf:"_object.ob_refcnt"` // default builds
	Tid      Off `dwarf:"_object.ob_tid"`    // free-threaded builds
	Type     Off `dwarf:"_object.ob_type" dbg:"pyobject.ob_type"`
	Size     Off `dwarf:"PyVarObject.ob_size" dbg:"list_object.ob_size"`
	HeadSize Off `dwarf:"sizeof:_object" dbg:"pyobject.size"`
}

type TypeOffsets struct {
	Size       Off `dwarf:"sizeof:_typeobject" dbg:"type_object.size"`
	Name       Off `dwarf:"_typeobject.tp_name" dbg:"type_object.tp_name"`
	Basicsize  Off `dwarf:"_typeobject.tp_basicsize" dbg:"type_object.tp_basicsize"`
	Itemsize   Off `dwarf:"_typeobject.tp_itemsize"`
	Flags      Off `dwarf:"_typeobject.tp_flags" dbg:"type_object.tp_flags"`
	Dictoffset Off `dwarf:"_typeobject.tp_dictoffset" dbg:"type_object.tp_dictoffset"`
	Base       Off `dwarf:"_typeobject.tp_base"`
	Dict       Off `dwarf:"_typeobject.tp_dict"`
	Mro        Off `dwarf:"_typeobject.tp_mro"`
	// A static builtin type's index into Interp.StaticTypes, plus 1, on 3.12+.
	Subclasses Off `dwarf:"_typeobject.tp_subclasses"`
	// PyHeapTypeObject
	HeapQualname   Off `dwarf:"_heaptypeobject.ht_qualname"`
	HeapModule     Off `dwarf:"_heaptypeobject.ht_module"`
	HeapSlots      Off `dwarf:"_heaptypeobject.ht_slots"`
	HeapCachedKeys Off `dwarf:"_heaptypeobject.ht_cached_keys" dbg:"heap_type_object.ht_cached_keys"`
	HeapSize       Off `dwarf:"sizeof:_heaptypeobject" dbg:"heap_type_object.size"`
}

// StaticTypeOffsets describes the per-interpreter state of a static
// builtin type (3.12's static_builtin_state, 3.13's
// managed_static_type_state).
type StaticTypeOffsets struct {
	Size Off `dwarf:"sizeof:managed_static_type_state|sizeof:static_builtin_state"`
	Type Off `dwarf:"managed_static_type_state.type|static_builtin_state.type"`
	Dict Off `dwarf:"managed_static_type_state.tp_dict|static_builtin_state.tp_dict"`
}

type UnicodeOffsets struct {
	Length      Off `dwarf:"PyASCIIObject.length" dbg:"unicode_object.length"`
	State       Off `dwarf:"PyASCIIObject.state" dbg:"unicode_object.state"`
	ASCIISize   Off `dwarf:"sizeof:PyASCIIObject" dbg:"unicode_object.asciiobject_size"`
	CompactSize Off `dwarf:"sizeof:PyCompactUnicodeObject" dbg:"unicode_object.compactunicodeobject_size"`
	DataAny     Off `dwarf:"PyUnicodeObject.data"`
}

type BytesOffsets struct {
	Sval       Off `dwarf:"PyBytesObject.ob_sval" dbg:"bytes_object.ob_sval"`
	ArrayAlloc Off `dwarf:"PyByteArrayObject.ob_alloc"`
	ArrayBytes Off `dwarf:"PyByteArrayObject.ob_bytes"`
	ArrayStart Off `dwarf:"PyByteArrayObject.ob_start"`
}

type TupleOffsets struct {
	Item Off `dwarf:"PyTupleObject.ob_item" dbg:"tuple_object.ob_item"`
}

type ListOffsets struct {
	Item      Off `dwarf:"PyListObject.ob_item" dbg:"list_object.ob_item"`
	Allocated Off `dwarf:"PyListObject.allocated"`
}

type DictOffsets struct {
	Used   Off `dwarf:"PyDictObject.ma_used"`
	Keys   Off `dwarf:"PyDictObject.ma_keys" dbg:"dict_object.ma_keys"`
	Values Off `dwarf:"PyDictObject.ma_values" dbg:"dict_object.ma_values"`
	// PyDictKeysObject
	KeysSize           Off `dwarf:"_dictkeysobject.dk_size"` // 3.10
	KeysLog2Size       Off `dwarf:"_dictkeysobject.dk_log2_size"`
	KeysLog2IndexBytes Off `dwarf:"_dictkeysobject.dk_log2_index_bytes"`
	KeysKind           Off `dwarf:"_dictkeysobject.dk_kind"`
	KeysUsable         Off `dwarf:"_dictkeysobject.dk_usable"`
	KeysNentries       Off `dwarf:"_dictkeysobject.dk_nentries"`
	KeysIndices        Off `dwarf:"_dictkeysobject.dk_indices"`
	EntrySize          Off `dwarf:"sizeof:PyDictKeyEntry"`
	EntryKey           Off `dwarf:"PyDictKeyEntry.me_key"`
	EntryValue         Off `dwarf:"PyDictKeyEntry.me_value"`
	UnicodeEntrySize   Off `dwarf:"sizeof:PyDictUnicodeEntry"`
	UnicodeEntryKey    Off `dwarf:"PyDictUnicodeEntry.me_key"`
	UnicodeEntryValue  Off `dwarf:"PyDictUnicodeEntry.me_value"`
	// PyDictValues
	ValuesValues   Off `dwarf:"_dictvalues.values"`
	ValuesCapacity Off `dwarf:"_dictvalues.capacity"`
	ValuesSize     Off `dwarf:"_dictvalues.size"`
	ValuesEmbedded Off `dwarf:"_dictvalues.embedded"`
	ValuesValid    Off `dwarf:"_dictvalues.valid"` // 3.13+: inline values still in use
}

type SetOffsets struct {
	Fill      Off `dwarf:"PySetObject.fill"`
	Used      Off `dwarf:"PySetObject.used" dbg:"set_object.used"`
	Mask      Off `dwarf:"PySetObject.mask" dbg:"set_object.mask"`
	Table     Off `dwarf:"PySetObject.table" dbg:"set_object.table"`
	EntrySize Off `dwarf:"sizeof:setentry"`
	EntryKey  Off `dwarf:"setentry.key"`
}

type LongOffsets struct {
	LvTag Off `dwarf:"_longobject.long_value.lv_tag" dbg:"long_object.lv_tag"` // 3.12+
	Digit Off `dwarf:"_longobject.long_value.ob_digit|_longobject.ob_digit" dbg:"long_object.ob_digit"`
}

type FloatOffsets struct {
	Fval Off `dwarf:"PyFloatObject.ob_fval" dbg:"float_object.ob_fval"`
}

type ComplexOffsets struct {
	Cval Off `dwarf:"PyComplexObject.cval"`
}

type CellOffsets struct {
	Ref Off `dwarf:"PyCellObject.ob_ref"`
}

type FuncOffsets struct {
	Code     Off `dwarf:"PyFunctionObject.func_code"`
	Globals  Off `dwarf:"PyFunctionObject.func_globals"`
	Name     Off `dwarf:"PyFunctionObject.func_name"`
	Qualname Off `dwarf:"PyFunctionObject.func_qualname"`
	Module   Off `dwarf:"PyFunctionObject.func_module"`
	Closure  Off `dwarf:"PyFunctionObject.func_closure"`
}

type ModuleOffsets struct {
	Dict Off `dwarf:"PyModuleObject.md_dict"`
	Name Off `dwarf:"PyModuleObject.md_name"`
}

type GenOffsets struct {
	Frame      Off `dwarf:"PyGenObject.gi_frame"`                             // 3.10: PyFrameObject*
	IFrame     Off `dwarf:"PyGenObject.gi_iframe" dbg:"gen_object.gi_iframe"` // 3.11+: embedded frame
	Code       Off `dwarf:"PyGenObject.gi_code"`
	Name       Off `dwarf:"PyGenObject.gi_name" dbg:"gen_object.gi_name"`
	Qualname   Off `dwarf:"PyGenObject.gi_qualname"`
	FrameState Off `dwarf:"PyGenObject.gi_frame_state" dbg:"gen_object.gi_frame_state"`
}

// ExcOffsets describes PyBaseExceptionObject (PyException_HEAD): the C
// fields behind args, __traceback__, __context__, __cause__ and
// __suppress_context__ (a char). Its 3.11+ notes field stays NULL:
// add_note() keeps __notes__ in the instance dict.
type ExcOffsets struct {
	Args            Off `dwarf:"PyBaseExceptionObject.args"`
	Traceback       Off `dwarf:"PyBaseExceptionObject.traceback"`
	Context         Off `dwarf:"PyBaseExceptionObject.context"`
	Cause           Off `dwarf:"PyBaseExceptionObject.cause"`
	SuppressContext Off `dwarf:"PyBaseExceptionObject.suppress_context"`
}

// TracebackOffsets describes PyTracebackObject (struct _traceback).
type TracebackOffsets struct {
	Next   Off `dwarf:"_traceback.tb_next"`
	Frame  Off `dwarf:"_traceback.tb_frame"`
	Lasti  Off `dwarf:"_traceback.tb_lasti"`  // an int, in bytes on 3.11+
	Lineno Off `dwarf:"_traceback.tb_lineno"` // an int; -1 until asked on 3.12+
}

// CFunctionOffsets describes PyCFunctionObject (builtin_function_or_method).
type CFunctionOffsets struct {
	Ml   Off `dwarf:"PyCFunctionObject.m_ml"`
	Self Off `dwarf:"PyCFunctionObject.m_self"`
}

// MethodDefOffsets describes PyMethodDef, the C function a builtin runs.
type MethodDefOffsets struct {
	Name Off `dwarf:"PyMethodDef.ml_name"`
}

// GILOffsets describes struct _gil_runtime_state.
type GILOffsets struct {
	Locked     Off `dwarf:"_gil_runtime_state.locked" dbg:"interpreter_state.gil_runtime_state_locked-interpreter_state.gil_runtime_state"`
	LastHolder Off `dwarf:"_gil_runtime_state.last_holder" dbg:"interpreter_state.gil_runtime_state_holder-interpreter_state.gil_runtime_state"`
	// Size: a thread blocked on an address inside the struct (its
	// condition variables and mutexes) waits for the GIL.
	Size Off `dwarf:"sizeof:_gil_runtime_state"`
	// SwitchNumber counts hand-offs between thread states: a capture that
	// stops only the GIL holder checks that none happened while it read.
	SwitchNumber Off `dwarf:"_gil_runtime_state.switch_number"`
	// Enabled (free-threaded builds only) is 0 while the GIL is disabled,
	// else the count of reasons to take it (PYTHON_GIL=1, an extension
	// that does not declare itself free-threading safe). No dbg tag:
	// _Py_DebugOffsets gives its offset, 0, as it gives an absent field.
	Enabled Off `dwarf:"_gil_runtime_state.enabled"`
}

// SyncOffsets describes _thread.lock (lockobject), _thread.RLock
// (rlockobject) and the parking lot's waiters.
type SyncOffsets struct {
	// 3.10–3.12: a PyThread_type_lock (a sem_t* on Linux) and a flag.
	LockSem    Off `dwarf:"lockobject.lock_lock"`
	LockLocked Off `dwarf:"lockobject.locked"`
	// 3.13+: a PyMutex; bit 0 of its byte is set while locked.
	LockMutex Off `dwarf:"lockobject.lock"`
	// 3.10–3.13: a PyThread_type_lock, the owner's ident and the count.
	RLockSem   Off `dwarf:"rlockobject.rlock_lock"`
	RLockOwner Off `dwarf:"rlockobject.rlock_owner|rlockobject.lock.thread"`
	RLockCount Off `dwarf:"rlockobject.rlock_count"`
	// 3.14+: a _PyRecursiveMutex: its PyMutex and the level (count - 1).
	RLockMutex Off `dwarf:"rlockobject.lock.mutex"`
	RLockLevel Off `dwarf:"rlockobject.lock.level"`
	// 3.13+: a parked thread's struct wait_entry, on its stack: the
	// address it waits on and the semaphore it sleeps on.
	WaitEntryAddr Off `dwarf:"wait_entry.addr"`
	WaitEntrySema Off `dwarf:"wait_entry.sema"`
	// 3.13+: threading.Thread's _ThreadHandle, and in its ThreadHandle the
	// event set as the thread exits (Thread.is_alive()).
	ThreadHandle        Off `dwarf:"PyThreadHandleObject.handle"`
	ThreadHandleExiting Off `dwarf:"ThreadHandle.thread_is_exiting"`
}

// FutureOffsets describes _asyncio's FutureObj, whose FutureObj_HEAD also
// starts TaskObj (task_* members are at the same offsets).
type FutureOffsets struct {
	Size      Off `dwarf:"sizeof:FutureObj"`
	Loop      Off `dwarf:"FutureObj.fut_loop"`
	Callback0 Off `dwarf:"FutureObj.fut_callback0"`
	Callbacks Off `dwarf:"FutureObj.fut_callbacks"` // list of (callback, context)
	Exception Off `dwarf:"FutureObj.fut_exception"`
	Result    Off `dwarf:"FutureObj.fut_result"`
	State     Off `dwarf:"FutureObj.fut_state"` // int: PENDING 0, CANCELLED 1, FINISHED 2
}

// TaskOffsets describes the members _asyncio's TaskObj adds.
type TaskOffsets struct {
	Size                Off `dwarf:"sizeof:TaskObj" adbg:"asyncio_task_object.size"`
	FutWaiter           Off `dwarf:"TaskObj.task_fut_waiter"`
	Coro                Off `dwarf:"TaskObj.task_coro" adbg:"asyncio_task_object.task_coro"`
	Name                Off `dwarf:"TaskObj.task_name" adbg:"asyncio_task_object.task_name"` // a str; 3.13+: an int until asked
	MustCancel          Off `dwarf:"TaskObj.task_must_cancel"`                               // an int up to 3.12
	NumCancelsRequested Off `dwarf:"TaskObj.task_num_cancels_requested"`
	// AwaitedBy (3.14's fut_awaited_by, not read: see package tasks) is
	// the anchor from which asyncioRules place FutureObj_HEAD's members.
	AwaitedBy Off `dwarf:"TaskObj.task_awaited_by" adbg:"asyncio_task_object.task_awaited_by"`
	IsTask    Off `dwarf:"TaskObj.task_is_task" adbg:"asyncio_task_object.task_is_task"`
	Node      Off `dwarf:"TaskObj.task_node" adbg:"asyncio_task_object.task_node"` // 3.14: in its thread's list
}

// FutureIterOffsets describes the iterator `await future` suspends on.
type FutureIterOffsets struct {
	Future Off `dwarf:"futureiterobject.future"`
}

// AsyncGenOffsets describes the awaitables that stand between an
// awaiting coroutine and an async generator (or a wrapped coroutine).
type AsyncGenOffsets struct {
	ASendGen    Off `dwarf:"PyAsyncGenASend.ags_gen"`
	AThrowGen   Off `dwarf:"PyAsyncGenAThrow.agt_gen"`
	CoroWrapped Off `dwarf:"PyCoroWrapper.cw_coroutine"`
}

// WeakrefOffsets describes weakref.ref objects.
type WeakrefOffsets struct {
	Object Off `dwarf:"_PyWeakReference.wr_object"` // Py_None once the referent died
}

// MethodOffsets describes bound methods.
type MethodOffsets struct {
	Func Off `dwarf:"PyMethodObject.im_func"`
	Self Off `dwarf:"PyMethodObject.im_self"`
}

// PartialOffsets describes functools.partial objects.
type PartialOffsets struct {
	Fn   Off `dwarf:"partialobject.fn"`
	Args Off `dwarf:"partialobject.args"`
}

// RunningLoopOffsets describes _asyncio's PyRunningLoopHolder (3.10/3.11),
// what a thread's dict holds for its running event loop.
type RunningLoopOffsets struct {
	Loop Off `dwarf:"PyRunningLoopHolder.rl_loop"`
	Pid  Off `dwarf:"PyRunningLoopHolder.rl_pid"`
}

// LLNodeOffsets describes struct llist_node (3.14's task lists).
type LLNodeOffsets struct {
	Next Off `dwarf:"llist_node.next" dbg:"llist_node.next"`
	Prev Off `dwarf:"llist_node.prev" dbg:"llist_node.prev"`
}

// GCOffsets describes the garbage collector's lists of tracked objects:
// three struct gc_generation in a row (3.10–3.13 and 3.14.5+
// generations[3]; 3.14.0–3.14.4 young and old[2]), and the permanent
// generation. Each starts with the list's PyGC_Head, a ring through the
// PyGC_Head that precedes every tracked object.
type GCOffsets struct {
	Generations    Off `dwarf:"_is.gc.generations|_is.gc.young"`
	GenerationSize Off `dwarf:"sizeof:gc_generation"`
	Permanent      Off `dwarf:"_is.gc.permanent_generation"`
	HeadSize       Off `dwarf:"sizeof:PyGC_Head"`
	// Stats are the three generations' struct gc_generation_stats
	// {collections, collected, uncollectable}: collections only grows, so
	// it tells whether the collector ran between two reads.
	Stats     Off `dwarf:"_is.gc.generation_stats"`
	StatsSize Off `dwarf:"sizeof:gc_generation_stats"`
	// Collecting is relative to Interp.GC: non-zero while a thread runs
	// the collector.
	Collecting Off `dwarf:"_gc_runtime_state.collecting" dbg:"gc.collecting"`
}

// ManagedDictBefore is how far before an object its managed dict pointer
// sits (MANAGED_DICT_OFFSET, 3.11+): after the GC header in default
// builds, right before the object in free-threaded ones, which have none.
func (l *Layout) ManagedDictBefore() uint64 {
	if l.FreeThreaded {
		return 8
	}
	return 24
}
