"""Host link protocol: newline-delimited JSON requests, replies and events.

Request  ``{"id": 7, "cmd": "info", "args": {}}``
Reply    ``{"id": 7, "ok": true, "result": {...}}``
         ``{"id": 7, "ok": false, "error": {"code": "bad_args", "message": "..."}}``
Event    ``{"event": "card", ...}``

A line that does not start with ``{`` is a command typed by a person
(``help``, ``info``, ``read nfc``): it is answered in readable text.
Every bad line gets an error reply; the link stays usable. The full
description is docs/host-protocol.md.
"""

import json

from vitale.compat import const

PROTOCOL_VERSION = const(1)

# Argument types a command may declare.
T_STR = "str"
T_INT = "int"
T_NUM = "num"
T_BOOL = "bool"
T_OBJ = "obj"
T_LIST = "list"


class LinkError(Exception):
    """A request failed; `code` is stable and machine-readable."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _type_ok(value, t):
    if t == T_STR:
        return isinstance(value, str)
    if t == T_BOOL:
        return value is True or value is False
    if t == T_INT:
        return isinstance(value, int) and not (value is True or value is False)
    if t == T_NUM:
        return isinstance(value, (int, float)) and not (value is True or value is False)
    if t == T_OBJ:
        return isinstance(value, dict)
    if t == T_LIST:
        return isinstance(value, list)
    return False


class Command:
    """One command: its handler, argument schema and help line.

    `schema` is a tuple of (name, type, required). The handler is called
    as handler(args) and returns a JSON-able result or raises LinkError.
    """

    def __init__(self, name, handler, schema=(), help_text="", text_args=()):
        self.name = name
        self.handler = handler
        self.schema = schema
        self.help_text = help_text
        self.text_args = text_args  # argument names filled by words typed after the command

    def check(self, args):
        """Validate args against the schema; raises LinkError(bad_args)."""
        if not isinstance(args, dict):
            raise LinkError("bad_args", "args must be an object")
        known = {}
        for name, t, required in self.schema:
            known[name] = t
            if name not in args:
                if required:
                    raise LinkError("bad_args", "missing argument: " + name)
            elif not _type_ok(args[name], t):
                raise LinkError("bad_args", "argument %s must be %s" % (name, t))
        for name in args:
            if name not in known:
                raise LinkError("bad_args", "unknown argument: " + name)


def encode(obj):
    """One protocol line (bytes, LF-terminated) for a JSON-able object."""
    return json.dumps(obj).encode() + b"\n"


def reply_ok(req_id, result):
    """A success reply line."""
    return encode({"id": req_id, "ok": True, "result": result})


def reply_error(req_id, code, message):
    """An error reply line."""
    return encode({"id": req_id, "ok": False, "error": {"code": code, "message": message}})


def event(name, fields):
    """An event line: {"event": name, **fields}."""
    obj = {"event": name}
    for k in fields:
        obj[k] = fields[k]
    return encode(obj)


def _text_value(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def format_text(result, indent=""):
    """Readable lines for a result shown to a person at a serial terminal."""
    if isinstance(result, dict):
        lines = []
        for k in sorted(result):  # MicroPython dicts keep no insertion order
            v = result[k]
            if isinstance(v, dict) and v:
                lines.append(indent + k + ":")
                lines.append(format_text(v, indent + "  "))
            else:
                lines.append(indent + k + ": " + _text_value(v))
        return "\n".join(lines)
    return indent + _text_value(result)


class Dispatcher:
    """Turns received lines into replies by calling the registered commands."""

    def __init__(self):
        self.commands = {}
        self.add(Command("help", self._help, (("cmd", T_STR, False),), "list commands, or describe one",
                         ("cmd",)))

    def add(self, command):
        """Register a Command."""
        self.commands[command.name] = command

    def _help(self, args):
        name = args.get("cmd")
        if name is not None:
            c = self.commands.get(name)
            if c is None:
                raise LinkError("unknown_command", "no command " + name)
            return {"cmd": name, "help": c.help_text,
                    "args": [{"name": a, "type": t, "required": r} for a, t, r in c.schema]}
        return {"commands": dict((n, self.commands[n].help_text) for n in sorted(self.commands))}

    def call(self, cmd, args):
        """Validate and run one command; returns its result or raises LinkError."""
        c = self.commands.get(cmd)
        if c is None:
            raise LinkError("unknown_command", "no command " + cmd + " (try help)")
        c.check(args)
        return c.handler(args)

    def handle_line(self, line):
        """The reply line (bytes) for one received line; None for a blank line.

        `line` is the bytes of one line without its LF, or None for a line
        that exceeded the maximum length.
        """
        if line is None:
            return reply_error(None, "line_too_long", "line exceeds the maximum length")
        line = line.strip()
        if not line:
            return None
        if line[:1] != b"{":
            return self._handle_text(line)
        try:
            req = json.loads(line)
        except (ValueError, UnicodeError):
            return reply_error(None, "bad_json", "not valid JSON")
        if not isinstance(req, dict):
            return reply_error(None, "bad_request", "a request is a JSON object")
        req_id = req.get("id")
        if req_id is not None and not (isinstance(req_id, (int, str)) and req_id is not True and req_id is not False):
            return reply_error(None, "bad_request", "id must be an integer or a string")
        cmd = req.get("cmd")
        if not isinstance(cmd, str):
            return reply_error(req_id, "bad_request", "cmd must be a string")
        args = req.get("args", {})
        try:
            return reply_ok(req_id, self.call(cmd, args))
        except LinkError as e:
            return reply_error(req_id, e.code, e.message)
        except Exception as e:  # a bug in one command never takes the link down
            return reply_error(req_id, "internal", "%s: %s" % (type(e).__name__, e))

    def _handle_text(self, line):
        try:
            words = line.decode().split()
        except UnicodeError:
            return b"error bad_text: not UTF-8\n"
        cmd = words[0]
        c = self.commands.get(cmd)
        args = {}
        if c is not None:
            names = c.text_args
            for i, w in enumerate(words[1:]):
                if i >= len(names):
                    return ("error bad_args: too many words for " + cmd + "\n").encode()
                t = T_STR
                for a, at, _ in c.schema:
                    if a == names[i]:
                        t = at
                if t in (T_INT, T_NUM):
                    try:
                        w = int(w) if t == T_INT else float(w)
                    except ValueError:
                        return ("error bad_args: %s must be a number\n" % names[i]).encode()
                args[names[i]] = w
        try:
            result = self.call(cmd, args)
        except LinkError as e:
            return ("error %s: %s\n" % (e.code, e.message)).encode()
        except Exception as e:
            return ("error internal: %s: %s\n" % (type(e).__name__, e)).encode()
        return (format_text(result) + "\n").encode()
