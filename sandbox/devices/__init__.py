"""Hardware a driver talks to, and the /dev nodes Python can open.

``Device`` is the base class of emulated hardware; ``Uart16550`` and
``I8042`` are the built-in models; ``MmioBus`` maps device windows;
``DeviceSet`` is ``Kernel.devices``; ``chardev`` holds character device nodes.
"""

from .device import Device, RegisterName
from .i8042 import I8042
from .uart16550 import Uart16550

__all__ = ["I8042", "Device", "RegisterName", "Uart16550"]
