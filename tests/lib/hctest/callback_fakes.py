"""Fakes for the unit tests of the collection's callback plugins (tests/unit/plugins/callback): what a
callback gets from Ansible besides its options, as far as the plugins use it."""


class Display:
    """Ansible's Display, collecting what a callback shows: ``lines`` (display and -vv output) and
    ``warnings``."""

    def __init__(self, verbosity=0):
        self.verbosity = verbosity
        self.lines = []
        self.warnings = []

    def display(self, msg, color=None, **kwargs):
        self.lines.append(msg)

    def warning(self, msg, **kwargs):
        self.warnings.append(msg)

    def vv(self, msg, **kwargs):
        self.lines.append(msg)


class Result:
    """ansible-core >= 2.19's CallbackTaskResult: the host, the task and the result dict."""

    def __init__(self, host, task, result):
        self.host = host
        self.task = task
        self.result = result
