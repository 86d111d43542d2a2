"""Tracepoints and trace events as on a Linux 6.1 kernel with tracing off.

A module's own trace events (``TRACE_EVENT`` in its headers) reference
``trace_event_raw_init``, ``trace_event_reg``, the ``perf_trace_*`` and
``trace_event_buffer_*`` helpers from their event classes; the kernel's
tracepoints (``__tracepoint_read_msr``...) are ``struct tracepoint``s
whose static key is off. Here, as on a running kernel where nobody enabled
an event, registration succeeds and nothing is emitted:

- ``trace_event_raw_init`` registers the event (0); ``trace_event_reg``
  and ``tracepoint_probe_register`` record the probe (0; unregistering an
  unknown one is -ENOENT);
- the inline ``trace_*()`` calls test the tracepoint's key, which stays
  disabled (no one writes ``set_event``), so probes never run;
- reached anyway, ``trace_event_buffer_reserve`` and ``perf_trace_buf_alloc``
  return NULL (no ring buffer: the event is dropped), commits and BPF runs
  do nothing, ``__trace_trigger_soft_disabled`` says the event is off.

No ``/sys/kernel/tracing`` exists to enable events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service
from sandbox.services.varargs import VarArgs

from .layout import size
from .registrations import Registry

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

ENOENT = 2
TRACE_TYPE_PARTIAL_LINE, TRACE_TYPE_HANDLED = 0, 1


class Tracepoints(Registry):
    """Events registered (``trace event``) and probes attached (``probe``), by address."""


def _tracepoint(name: str) -> object:
    """An exported ``struct tracepoint`` ``__tracepoint_<name>``: key disabled, no probes (funcs NULL)."""
    return kernel_variable(f"__tracepoint_{name}", size("tracepoint"), 0)


# The kernel tracepoints modules reference (the most used ones; each is off). Not dev_irq: that one is
# mt76.ko's own (vmlinux has no __tracepoint_dev_irq), and a kernel copy made mt76 a duplicate export.
KERNEL_TRACEPOINTS = [_tracepoint(n) for n in (
    "read_msr", "write_msr", "xdp_exception", "mmap_lock_released", "mmap_lock_acquire_returned",
    "mmap_lock_start_locking", "block_bio_remap")]


@service("int trace_event_raw_init(struct trace_event_call *call)")
def trace_event_raw_init(k: Kernel, call: int) -> int:
    """Register a module's trace event: 0 (it stays disabled)."""
    k.subsystem(Tracepoints).add(k, "trace event", call, k.symbolizer.short(call))
    return 0


@service("int trace_event_reg(struct trace_event_call *call, enum trace_reg type, void *data)")
def trace_event_reg(k: Kernel, call: int, kind: int, data: int) -> int:
    """Enable/disable hooks of an event class: recorded, 0."""
    return 0


@service("int tracepoint_probe_register(struct tracepoint *tp, void *probe, void *data)")
def tracepoint_probe_register(k: Kernel, tp: int, probe: int, data: int) -> int:
    """Attach ``probe``: recorded (tracing is off, so it is never called): 0."""
    k.subsystem(Tracepoints).add(k, "probe", probe, k.symbolizer.short(probe), tracepoint=tp, data=data)
    return 0


@service("int tracepoint_probe_unregister(struct tracepoint *tp, void *probe, void *data)")
def tracepoint_probe_unregister(k: Kernel, tp: int, probe: int, data: int) -> int:
    """Detach ``probe``: 0, or -ENOENT if it was not attached."""
    return 0 if k.subsystem(Tracepoints).remove(k, probe, "probe") is not None else -ENOENT


@service("void *trace_event_buffer_reserve(struct trace_event_buffer *fbuffer, struct trace_event_file *trace_file, "
         "unsigned long len)")
def trace_event_buffer_reserve(k: Kernel, fbuffer: int, trace_file: int, length: int) -> int:
    """No ring buffer is recording: NULL, so the event is dropped."""
    return 0


@service("void trace_event_buffer_commit(struct trace_event_buffer *fbuffer)")
def trace_event_buffer_commit(k: Kernel, fbuffer: int) -> None:
    """Nothing was reserved: nothing to commit."""


@service("bool __trace_trigger_soft_disabled(struct trace_event_file *file)")
def __trace_trigger_soft_disabled(k: Kernel, file: int) -> int:
    """The event is off: true (the probe returns without recording)."""
    return 1


@service("void *perf_trace_buf_alloc(int size, struct pt_regs **regs, int *rctxp)")
def perf_trace_buf_alloc(k: Kernel, length: int, regs: int, rctxp: int) -> int:
    """No perf event is attached: NULL."""
    return 0


@service("void perf_trace_run_bpf_submit(void *raw_data, int size, int rctx, struct trace_event_call *call, "
         "u64 count, struct pt_regs *regs, struct hlist_head *head, struct task_struct *task)")
def perf_trace_run_bpf_submit(k: Kernel, raw_data: int, length: int, rctx: int, call: int, count: int, regs: int,
                              head: int, task: int) -> None:
    """Nothing was allocated: nothing to submit."""


@service("void trace_event_printf(struct trace_iterator *iter, const char *fmt, ...)")
def trace_event_printf(k: Kernel, iter: int, fmt: int, args: VarArgs) -> None:
    """Output side of a trace read: no trace file exists to read, so nothing is formatted."""


@service("enum print_line_t trace_handle_return(struct trace_seq *s)")
def trace_handle_return(k: Kernel, s: int) -> int:
    """TRACE_TYPE_HANDLED (no line was ever started)."""
    return TRACE_TYPE_HANDLED


@service("int trace_raw_output_prep(struct trace_iterator *iter, struct trace_event *trace_event)")
def trace_raw_output_prep(k: Kernel, iter: int, trace_event: int) -> int:
    """Output side of a trace read (none happen): TRACE_TYPE_HANDLED's 0 path."""
    return 0


def _bpf_runs() -> list[object]:
    made: list[object] = []
    for n in range(1, 13):
        params = ", ".join(["void *prog", *[f"u64 arg{i}" for i in range(1, n + 1)]])

        def run(k: Kernel, *args: int) -> None:
            """No BPF program is attached to the tracepoint: nothing runs."""

        made.append(service(f"void bpf_trace_run{n}({params})")(run))
    return made


for _fn in _bpf_runs():  # module-level names, so the profile finds each service
    globals()[_fn.__sandbox_service__.name] = _fn  # type: ignore[attr-defined]


@service("void do_trace_netlink_extack(const char *msg)")
def do_trace_netlink_extack(k: Kernel, msg: int) -> None:
    """The netlink_extack tracepoint's out-of-line call: its key is off, nothing is recorded."""


@service("void do_trace_read_msr(unsigned int msr, u64 val, int failed)")
def do_trace_read_msr(k: Kernel, msr: int, val: int, failed: int) -> None:
    """The read_msr tracepoint (reached only when enabled, which it never is here)."""


@service("void do_trace_write_msr(unsigned int msr, u64 val, int failed)")
def do_trace_write_msr(k: Kernel, msr: int, val: int, failed: int) -> None:
    """The write_msr tracepoint (reached only when enabled, which it never is here)."""
