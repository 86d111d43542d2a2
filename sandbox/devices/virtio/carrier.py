"""What a virtio transport does with the device model behind it when it is attached or detached."""

from __future__ import annotations

from typing import Any


class CarriesModel:
    """Mixin for a transport (``VirtioMmio``, ``VirtioPci``) holding ``self.model``: attaching the
    transport attaches the model beside it as a registerless device of its own (so snapshots keep
    the model's state and the object a test holds stays the live one), named uniquely; detaching
    the transport detaches the model it attached."""

    model: Any
    attached_model: bool

    def attach(self, host: Any) -> None:
        super().attach(host)  # type: ignore[misc]
        self.model.transport = self
        if self.model.host is None:
            base_name = self.model.name
            for n in range(1000):
                try:
                    host.add_device(self.model)
                    break
                except ValueError:
                    self.model.name = f"{base_name}-{n + 1}"
            self.attached_model = True

    def detach(self) -> None:
        host = self.host  # type: ignore[attr-defined]
        super().detach()  # type: ignore[misc]
        if host is not None and self.attached_model and self.model.host is not None:
            self.attached_model = False
            host.remove_device(self.model.name)
