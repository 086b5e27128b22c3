"""Secrets wherever a dump shows values: variables, attributes, dict keys,
(name, value) pairs, inside texts (a URL's password, a query string's
token in the servers' request lines), the process environment (os.environ
and a copy of it), a real WSGI environ (wsgiref, parked inside the application while it
serves a request) and, with "django", Django's request.META (runserver's
server, parked inside a view).

usage: python redaction.py ORACLE_PATH [django]
Writes redaction.json in the oracle's directory: "secrets" must never show
in a default dump, "environ" must not show in the environ and META reprs
(the request line shows the query string elsewhere), "shown" must show.
Every value is made up here, unique per run.
"""

import json
import os
import sys
import threading
import urllib.request
import uuid

import pyscope_oracle as po

# Under a secret name, so that the lists themselves never show.
SECRET_MADE = {"secrets": [], "environ": [], "shown": []}


def made(kind, into):
    s = "%s-%s" % (kind, uuid.uuid4().hex)
    SECRET_MADE[into].append(s)
    return s


# Before wsgiref is imported: its handlers copy os.environ at import.
os.environ["PYSCOPE_TEST_ENV_VALUE"] = made("envvar", "secrets")
never = threading.Event()
served = threading.Barrier(3 if len(sys.argv) > 2 else 2)


class Account:
    def __init__(self):
        self.name = made("name", "shown")
        self.secret_key = made("attr", "secrets")
        self.apiKey = made("attrcamel", "secrets")


class Client:
    """Reached only through a bound method's __self__."""

    def __init__(self):
        self.login = made("clientlogin", "shown")
        self.token = made("clienttoken", "secrets")

    def send(self):
        pass


def variables():
    password = made("password", "secrets")
    api_key = made("apikey", "secrets")
    db_password = made("dbpassword", "secrets")
    user = made("user", "shown")
    upstream = "postgres://app:%s@%s/app" % (made("urlpassword", "secrets"), made("urlhost", "shown"))
    config = {
        "user": made("configuser", "shown"),
        "password": made("dictkey", "secrets"),
        "Authorization": "Bearer " + made("authz", "secrets"),
        "nested": {"token": made("nested", "secrets"), "note": made("note", "shown")},
    }
    headers = [("Authorization", "Bearer " + made("header", "secrets")), ("Accept", made("accept", "shown"))]
    account = Account()
    env = os.environ
    environ_copy = dict(os.environ)  # a neutral name: known by its keys
    callback = Client().send  # neutral names: what __self__ holds is judged
    lookup = os.environ.get
    ready()
    never.wait()
    return password, api_key, db_password, user, upstream, config, headers, account, env, environ_copy, callback, lookup


def request(port, kind):
    """A client request with credentials in headers and the query string:
    the server's request objects hold the request line and the query string
    apart from the environ, where the access token must not show either."""
    req = urllib.request.Request(
        "http://127.0.0.1:%d/%s?q=%s&access_token=%s"
        % (port, made(kind + "path", "shown"), made(kind + "query", "environ"), made(kind + "qtoken", "secrets")),
        headers={
            "Cookie": "sessionid=" + made(kind + "cookie", "secrets"),
            "Authorization": "Bearer " + made(kind + "bearer", "secrets"),
            "X-Request-Tag": made(kind + "tag", "environ"),
        })
    threading.Thread(target=urllib.request.urlopen, args=(req,), name=kind + "-client", daemon=True).start()


def wsgi():
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    def app(environ, start_response):
        served.wait()
        never.wait()
        return []

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    threading.Thread(target=server.handle_request, name="wsgi-server", daemon=True).start()
    request(server.server_port, "wsgi")


def django():
    from django.conf import settings
    from django.urls import path

    def view(request, rest):
        sessionid = request.COOKIES.get("sessionid")
        meta = request.META  # a neutral name: known by its keys
        served.wait()
        never.wait()
        return sessionid, meta

    settings.configure(
        DEBUG=False,
        SECRET_KEY=made("djangokey", "secrets"),
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    global urlpatterns
    urlpatterns = [path("<str:rest>", view)]
    import django as dj
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

    dj.setup()

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = WSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.handle_request, name="django-server", daemon=True).start()
    request(server.server_port, "django")


def ready():
    with open(os.path.join(po.workdir(), "redaction.json"), "w") as f:
        json.dump(SECRET_MADE, f)
    # main, responder, and a server and a client per request
    po.start(expected=6 if len(sys.argv) > 2 else 4)


def main():
    wsgi()
    if len(sys.argv) > 2 and sys.argv[2] == "django":
        django()
    served.wait()  # every request is inside its application
    variables()


if __name__ == "__main__":
    main()
