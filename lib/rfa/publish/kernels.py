"""Fresh Jupyter kernels for pages: ONE kernel per page, never reused, started fast.

A page's notebook runs in a kernel of its own, started for it (or ahead of it, while the
page before it executes) and shut down when it is done: nothing of one page (or account)
can reach another. What makes a kernel slow to start is importing the dashboards'
libraries (matplotlib, seaborn and scipy, pandas, SQLAlchemy, polars, pandera: several
seconds of CPU per kernel). Two things take that off the pages:

* **Preloads** — a kernel imports the modules its notebook imports (:func:`notebook_imports`)
  while it starts, before its page is known, in a throwaway namespace (IPython's
  ``exec_lines``): the notebook then finds them in ``sys.modules``; its own namespace and
  execution count are those of any fresh kernel.
* **A kernel template** (a fork server, like :mod:`multiprocessing`'s ``forkserver``) in
  each batch worker: a process started from the kernel's interpreter that imports the
  heavy libraries that are safe to fork once (:data:`TEMPLATE_PRELOAD`; never polars,
  whose thread pools do not survive a fork) and then only forks. Each fork becomes one
  new kernel process — its own process group, working directory, environment, standard
  streams, random seeds — that initialises a brand-new IPython kernel (the template never
  runs one, nor any notebook code) for one page. jupyter_client manages it like any other
  kernel (:class:`TemplateProvisioner`): messages over its own Unix sockets, interrupts,
  kills, death detection. When the template is not available (a kernelspec that does not
  run ``ipykernel_launcher``, a failure), kernels are started the usual way.

Kernels talk over Unix sockets in a private folder (:func:`kernel_config`). This module
imports only the standard library at import time: the template runs it first thing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import rfa

BATCH_ENV = "RFA_BATCH_ID"
"""Environment variable marking every worker, kernel and renderer process of a local
batch (:mod:`rfa.publish.batch`) with the batch's id, so that stragglers can be found."""
KERNEL_START_TIMEOUT = 120.0
"""Seconds a page's kernel may take to start (and to import the notebook's modules)."""
TEMPLATE_PRELOAD = (
    "IPython",
    "IPython.display",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "numpy",
    "pandas",
    "matplotlib",
    "matplotlib.pyplot",
    "scipy.stats",
    "seaborn",
    "sqlalchemy",
    "pydantic",
    "jinja2",
)
"""What a kernel template imports before it forks kernels (those that are installed):
the heavy libraries of the dashboards that start no thread at import, or only threads
whose libraries re-arm them in a forked child (OpenBLAS, jemalloc)."""
TEMPLATE_REFUSES = ("polars",)
"""Modules that must not be imported before a fork (their thread pools deadlock in the
child): a template that finds one imported exits, and kernels start the usual way."""
TEMPLATE_ARGV = ("ipykernel_launcher", "--rfa-kernel-template")
"""The template's arguments before its socket and modules (see :func:`template_main`)."""
_MPL_INLINE = "module://matplotlib_inline.backend_inline"
_socket_dirs: set[Path] = set()
"""The socket folders of the kernels this process runs right now."""


def kernel_socket_prefix(batch_id: str | None = None) -> str:
    """Name prefix of the kernel socket folders (in the temporary directory) of a batch."""
    return f"rfa-kernel-{batch_id or os.environ.get(BATCH_ENV) or 'adhoc'}-"


def remove_kernel_sockets(batch_id: str | None = None) -> None:
    """Remove this process's kernel socket folders (a worker stopped mid-page calls it),
    or with ``batch_id`` every such folder of that batch (left by a killed worker)."""
    folders = set(_socket_dirs)
    if batch_id:
        folders |= set(Path(tempfile.gettempdir()).glob(kernel_socket_prefix(batch_id) + "*"))
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        _socket_dirs.discard(folder)


def kernel_config(socket_dir: Path):
    """Kernel manager settings for one page: talk to the kernel over Unix sockets in
    ``socket_dir`` (private to the page) instead of TCP ports on 127.0.0.1.

    With TCP, jupyter_client picks five free ports and the kernel binds them a moment
    later; kernels starting at the same time (parallel pages, other Jupyter users) can
    pick the same port, and the loser dies with "Address already in use" ("Kernel died
    before replying to kernel_info"). Private socket files cannot collide. The directory
    is short (a Unix socket path is limited to ~100 bytes), hence not the build folder."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "ipc", "ip": str(socket_dir / "kernel")}})


def notebook_imports(notebook: Path) -> tuple[str, ...]:
    """The modules ``notebook``'s code cells import at top level (``import a.b`` → ``a.b``;
    ``from a import b`` → ``a`` and ``a.b``, which may be a submodule), in order.

    Used to *preload* them in a page's fresh kernel while it starts (see :class:`Kernel`).
    Cells that are not valid Python (magics) and the parameters cells are skipped; an
    unreadable notebook gives ``()``."""
    import ast

    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return ()
    found: dict[str, None] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        if {"parameters", "injected-parameters"} & set(cell.get("metadata", {}).get("tags", [])):
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else str(source))
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found.update((alias.name, None) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found[node.module] = None
                found.update((f"{node.module}.{a.name}", None) for a in node.names if a.name != "*")
    return tuple(found)


def _preload_line(modules: Sequence[str]) -> str:
    """One IPython ``exec_lines`` entry importing ``modules`` in a throwaway namespace:
    the notebook's namespace stays empty, a module that is not importable is skipped
    (the notebook's own cell then raises the real error, in its cell)."""
    code = (
        "import importlib\n"
        f"for name in {list(modules)!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        pass\n"
    )
    return f"exec({code!r}, {{}})"


# ---------------------------------------------------------------------------------------------
# The kernel template (fork server)
# ---------------------------------------------------------------------------------------------


def _reap_children(signum: int, frame: object) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def template_main() -> None:
    """The template process: ``python -c "from rfa.publish.kernels import template_main;
    template_main()" ipykernel_launcher --rfa-kernel-template FD MODULE…`` (the kernels it
    forks keep that command line: ``ps``/``pgrep -f ipykernel_launcher`` finds them). It
    imports the modules, says ``ready`` on the socket FD, then forks one kernel per request
    until the socket closes (its worker is gone)."""
    fd, modules = int(sys.argv[3]), sys.argv[4:]
    sock = socket.socket(fileno=fd)
    os.environ.setdefault("MPLBACKEND", _MPL_INLINE)  # as ipykernel sets it, before matplotlib
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - a missing library is imported by its page
            continue
    refused = [name for name in TEMPLATE_REFUSES if name in sys.modules]
    if refused:
        sock.send(json.dumps({"error": f"imported {refused}: not safe to fork"}).encode())
        os._exit(3)
    signal.signal(signal.SIGCHLD, _reap_children)
    sock.send(json.dumps({"ready": os.getpid()}).encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        except OSError:
            break
        if not message:
            break  # the worker closed its end: it is gone
        request = json.loads(message)
        _reap_children(signal.SIGCHLD, None)  # the previous page's kernel is gone: not a zombie
        pid = os.fork()
        if pid == 0:
            _kernel_child(sock, request, fds)  # never returns
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # as the child does: no window with the template's group
        for received in fds:
            os.close(received)
        sock.send(json.dumps({"pid": pid}).encode())
    os._exit(0)


def _kernel_child(sock: socket.socket, request: dict, fds: list[int]) -> None:
    """In a fresh fork of the template: become one new kernel process, never return."""
    code = 1
    try:
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.setpgid(0, 0)  # its own process group: interrupts and kills reach it alone
        sock.close()
        stdin = os.open(os.devnull, os.O_RDONLY)
        for target, source in ((0, stdin), (1, fds[0]), (2, fds[1])):
            os.dup2(source, target)
        for used in {stdin, *fds}:
            if used > 2:
                os.close(used)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if "numpy" in sys.modules:  # a fresh process seeds numpy from the OS: so does a fork
            sys.modules["numpy"].random.seed()
        if "random" in sys.modules:  # and the standard library's generator
            sys.modules["random"].seed()
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]  # as ipykernel_launcher does; IPython adds it back
        sys.argv = ["ipykernel_launcher", *request["args"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance(argv=request["args"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - reported on the kernel's stderr, then exit
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class KernelTemplate:
    """A worker's kernel template process (see the module docstring): :meth:`fork` asks it
    for a new kernel process. It exits when :meth:`close` is called or its worker dies."""

    def __init__(self, interpreter: Sequence[str], modules: Sequence[str], cwd: Path):
        import subprocess

        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = "from rfa.publish.kernels import template_main; template_main()"
        cwd.mkdir(parents=True, exist_ok=True)
        # its own messages (an import warning, a crash) go to a log beside it, removed
        # when it stops if empty; every kernel it forks gets its page's streams instead
        self.log = cwd / f"template-{os.getpid()}-{time.time_ns():x}.log"
        try:
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    [*interpreter, "-c", code, *TEMPLATE_ARGV, str(theirs.fileno()), *modules],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=cwd,
                )
        finally:
            theirs.close()
        self.sock = mine
        self.interpreter = list(interpreter)
        self.ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def _reply(self, timeout: float) -> dict:
        self.sock.settimeout(timeout)
        data = self.sock.recv(1 << 16)
        if not data:
            raise OSError("the kernel template exited")
        return json.loads(data)

    def wait_ready(self, timeout: float = KERNEL_START_TIMEOUT) -> None:
        if not self.ready:
            reply = self._reply(timeout)
            if "ready" not in reply:
                raise OSError(f"the kernel template refused: {reply.get('error')}")
            self.ready = True

    def fork(
        self, args: Sequence[str], cwd: str, env: dict[str, str], stdout: int, stderr: int
    ) -> int:
        """A new kernel process running ``ipykernel_launcher ARGS``: its pid."""
        self.wait_ready()
        request = {"args": [*args, f"--IPKernelApp.parent_handle={self.pid}"]}
        request.update(cwd=cwd, env=env)
        socket.send_fds(self.sock, [json.dumps(request).encode()], [stdout, stderr])
        reply = self._reply(30.0)
        return int(reply["pid"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the template (its kernels are their pages' business; they are stopped)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except Exception:  # noqa: BLE001 - a template that does not stop is killed
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            if not self.log.stat().st_size:
                self.log.unlink()


_template: KernelTemplate | None = None
_template_folder: Path | None = None
"""Set by :func:`use_template`: this process forks its kernels from a template."""


def use_template(folder: Path | None, *, start: bool = False) -> None:
    """Fork this process's kernels from a kernel template working in ``folder`` (started
    now with ``start``, else on first use); ``None`` stops it and starts kernels the usual
    way again."""
    global _template_folder
    _template_folder = Path(folder) if folder is not None else None
    if folder is None:
        stop_template()
    elif start:
        from jupyter_client.kernelspec import KernelSpecManager

        with contextlib.suppress(Exception):  # no template then: kernels start as usual
            _get_template(KernelSpecManager().get_kernel_spec(rfa.KERNEL_NAME).argv)


def stop_template() -> None:
    global _template
    template, _template = _template, None
    if template is not None:
        template.close()


def _kernel_interpreter(argv: Sequence[str]) -> list[str] | None:
    """The interpreter part of a kernelspec's argv (``[python, flags…]``) when it runs
    ``-m ipykernel_launcher``, else ``None`` (no template for such a kernel)."""
    argv = list(argv)
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "ipykernel_launcher":
            return argv[:i]
    return None


def _get_template(argv: Sequence[str]) -> KernelTemplate | None:
    """This process's template for kernels of ``argv`` (started now if need be)."""
    global _template
    if _template_folder is None:
        return None
    interpreter = _kernel_interpreter(argv)
    if interpreter is None:
        return None
    if _template is not None and (not _template.alive() or _template.interpreter != interpreter):
        stop_template()
    if _template is None:
        from multiprocessing import util

        _template = KernelTemplate(interpreter, TEMPLATE_PRELOAD, _template_folder)
        util.Finalize(None, stop_template, exitpriority=90)  # a pool worker exiting
    return _template


class _ForkedProcess:
    """The parts of :class:`subprocess.Popen` jupyter_client's provisioner uses, for a kernel
    process forked by a template (it is the template's child: psutil guards against a
    reused pid, a zombie counts as gone)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        import psutil

        self.pid = pid
        self.returncode: int | None = None
        self._process = psutil.Process(pid)

    def poll(self) -> int | None:
        import psutil

        if self.returncode is None:
            try:
                if self._process.is_running() and self._process.status() != psutil.STATUS_ZOMBIE:
                    return None
            except psutil.Error:
                pass
            self.returncode = -signal.SIGKILL  # reaped by the template: the code is not ours
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                import subprocess

                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.05)
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        import psutil

        try:
            self._process.send_signal(signum)
        except psutil.NoSuchProcess as exc:
            raise ProcessLookupError(3, "No such process") from exc
        except psutil.Error as exc:
            raise OSError(str(exc)) from exc

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


_TemplateProvisioner = None


def _provisioner_class():
    global _TemplateProvisioner
    if _TemplateProvisioner is None:
        _TemplateProvisioner = _make_provisioner_class()
    return _TemplateProvisioner


def _make_provisioner_class():
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    class TemplateProvisioner(LocalProvisioner):
        """jupyter_client's local provisioner, launching the kernel by a fork of the kernel
        template instead of a new interpreter (falls back to that when it cannot)."""

        template: KernelTemplate | None = None

        async def launch_kernel(self, cmd, **kwargs):
            template, interpreter = self.template, _kernel_interpreter(cmd)
            if template is None or interpreter != template.interpreter:
                return await super().launch_kernel(cmd, **kwargs)
            args = list(cmd[len(interpreter) + 2 :])
            stdout, stderr = kwargs.get("stdout"), kwargs.get("stderr")
            try:
                pid = template.fork(
                    args,
                    cwd=str(kwargs.get("cwd") or os.getcwd()),
                    env={str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()},
                    stdout=stdout.fileno() if stdout is not None else 1,
                    stderr=stderr.fileno() if stderr is not None else 2,
                )
            except (OSError, ValueError, KeyError) as exc:
                self.log.warning("kernel template unavailable (%s): starting kernels", exc)
                use_template(None)  # not again in this process
                return await super().launch_kernel(cmd, **kwargs)
            self.process = _ForkedProcess(pid)
            self.pid = self.pgid = pid
            self.cwd = kwargs.get("cwd") or os.getcwd()
            return self.connection_info

    return TemplateProvisioner


# ---------------------------------------------------------------------------------------------
# One kernel for one page
# ---------------------------------------------------------------------------------------------


_PageKernelManager = None


def _manager_class():
    """jupyter_client's asyncio kernel manager (the one nbclient drives), remembering the
    clients made for its kernel so that :meth:`Kernel.shutdown` closes them all (nbclient
    leaves its client open when it did not start the kernel itself)."""
    global _PageKernelManager
    if _PageKernelManager is None:
        from jupyter_client.manager import AsyncKernelManager

        class PageKernelManager(AsyncKernelManager):
            def client(self, **kwargs):
                client = super().client(**kwargs)
                self.__dict__.setdefault("rfa_clients", []).append(client)
                return client

        _PageKernelManager = PageKernelManager
    return _PageKernelManager


class Kernel:
    """One fresh Jupyter kernel for ONE page: started (possibly ahead of use, while the
    previous page executes), waited for, used by one notebook, shut down. Never reused.

    It talks over Unix sockets in a private folder (:func:`kernel_config`), and imports
    ``preload`` (the notebook's modules, :func:`notebook_imports`) while it starts, in a
    throwaway namespace: nothing of a page is in it before its notebook runs. It is a fork
    of this process's kernel template when :func:`use_template` is on. The kernel process
    gets this process's environment, and its standard error unless ``stderr`` names a
    file for it."""

    def __init__(
        self, preload: Sequence[str] = (), cwd: Path | None = None, stderr: Path | None = None
    ) -> None:
        import uuid

        from jupyter_core.utils import run_sync

        self._sync = run_sync
        self.stderr = stderr
        self.sockets = Path(tempfile.mkdtemp(prefix=kernel_socket_prefix()))
        _socket_dirs.add(self.sockets)
        self.km = _manager_class()(kernel_name=rfa.KERNEL_NAME, config=kernel_config(self.sockets))
        arguments = ["--HistoryManager.hist_file=:memory:"]  # as nbclient starts kernels
        if preload:
            arguments.append(f"--IPKernelApp.exec_lines={_preload_line(preload)}")
        try:
            template = _get_template(self.km.kernel_spec.argv)
            if template is not None:
                self.km.kernel_id = str(uuid.uuid4())
                self.km.provisioner = _provisioner_class()(
                    kernel_id=self.km.kernel_id, kernel_spec=self.km.kernel_spec, parent=self.km
                )
                self.km.provisioner.template = template
            with contextlib.ExitStack() as files:
                sink = files.enter_context(open(stderr, "ab")) if stderr else None
                run_sync(self.km.start_kernel)(
                    cwd=str(cwd) if cwd else None, extra_arguments=arguments, stderr=sink
                )
        except BaseException:
            self._remove_sockets()
            raise

    @property
    def pid(self) -> int | None:
        """The kernel's process id (``None`` before it started or after it stopped)."""
        return getattr(self.km.provisioner, "pid", None) if self.km.provisioner else None

    @property
    def forked(self) -> bool:
        """Whether the kernel process is a fork of a kernel template."""
        return isinstance(getattr(self.km.provisioner, "process", None), _ForkedProcess)

    def is_alive(self) -> bool:
        try:
            return bool(self._sync(self.km.is_alive)())
        except Exception:  # noqa: BLE001 - a broken manager is a dead kernel
            return False

    def wait_ready(self, timeout: float = KERNEL_START_TIMEOUT, cwd: Path | None = None) -> float:
        """Block until the kernel answers (its preloads done); returns the seconds waited.
        With ``cwd``, the kernel's working directory is set to it first (a kernel started
        ahead of use did not know its page's build folder)."""
        waited = time.perf_counter()
        self._sync(self._ready)(timeout, cwd)
        return time.perf_counter() - waited

    async def _ready(self, timeout: float, cwd: Path | None) -> None:
        client = self.km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=timeout)
            if cwd is not None:
                code = f"__import__('os').chdir({str(cwd)!r})"
                reply = await client.execute_interactive(
                    code, silent=True, store_history=False, timeout=timeout
                )
                if reply["content"].get("status") != "ok":
                    raise RuntimeError(f"the kernel could not change to {cwd}")
        finally:
            client.stop_channels()

    def shutdown(self) -> None:
        """Stop the kernel now (its page is executed: nothing is left to flush), close its
        clients and remove its sockets. Safe to call twice."""
        for client in self.km.__dict__.pop("rfa_clients", []):
            with contextlib.suppress(Exception):
                client.stop_channels()
        try:
            if self.km.has_kernel:
                self._sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - the process may be gone already
            with contextlib.suppress(Exception):
                self._sync(self.km.cleanup_resources)()
        finally:
            self._remove_sockets()

    def _remove_sockets(self) -> None:
        shutil.rmtree(self.sockets, ignore_errors=True)
        _socket_dirs.discard(self.sockets)
