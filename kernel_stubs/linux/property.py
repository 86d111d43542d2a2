"""Device properties and firmware nodes (drivers/base/property.c, drivers/of/) on a PC without firmware tables.

The emulated PC boots with no device tree and ACPI disabled, so no device
has a firmware node: ``dev->fwnode`` and ``dev->of_node`` stay NULL. Linux's
answers are then fixed: there is no match data (drivers fall back to their
``id_table``), no property is present, and reading one fails with -EINVAL
(``fwnode_call_int_op`` on a NULL node). A device a module gave a firmware
node of its own (a software node) is not modelled: that is reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import Fields

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EINVAL = 22


def _fwnode(k: Kernel, dev: int) -> int:
    """dev_fwnode(): of_node's handle if any, else dev->fwnode."""
    if not dev:
        return 0
    fields = Fields(k.memory, "device", dev)
    return fields["of_node"] or fields["fwnode"]


def _unmodelled(k: Kernel, what: str, node: int) -> None:
    if node:
        k.warn(f"{what}: firmware node {node:#x} is not modelled (the sandbox has no DT or ACPI nodes); "
               "answered as for no node")


@service("struct fwnode_handle *__dev_fwnode(struct device *dev)")
def __dev_fwnode(k: Kernel, dev: int) -> int:
    """The device's firmware node: NULL here (no DT, no ACPI)."""
    return _fwnode(k, dev)


@service("const void *device_get_match_data(const struct device *dev)")
def device_get_match_data(k: Kernel, dev: int) -> int:
    """Match data from the firmware node's match: NULL without one (the driver uses its id table)."""
    _unmodelled(k, "device_get_match_data", _fwnode(k, dev))
    return 0


@service("const void *of_device_get_match_data(const struct device *dev)")
def of_device_get_match_data(k: Kernel, dev: int) -> int:
    """The of_match_table entry's data for the device's DT node: NULL without a node."""
    _unmodelled(k, "of_device_get_match_data", Fields(k.memory, "device", dev)["of_node"] if dev else 0)
    return 0


@service("bool device_property_present(const struct device *dev, const char *propname)")
def device_property_present(k: Kernel, dev: int, propname: int) -> int:
    """No firmware node, so no property: false."""
    _unmodelled(k, "device_property_present", _fwnode(k, dev))
    return 0


def _read_array(k: Kernel, dev: int, what: str) -> int:
    _unmodelled(k, what, _fwnode(k, dev))
    return -EINVAL


@service("int device_property_read_u8_array(const struct device *dev, const char *propname, u8 *val, size_t nval)")
def device_property_read_u8_array(k: Kernel, dev: int, propname: int, val: int, nval: int) -> int:
    """-EINVAL: no firmware node to read the property from."""
    return _read_array(k, dev, "device_property_read_u8_array")


@service("int device_property_read_u16_array(const struct device *dev, const char *propname, u16 *val, "
         "size_t nval)")
def device_property_read_u16_array(k: Kernel, dev: int, propname: int, val: int, nval: int) -> int:
    """-EINVAL: no firmware node to read the property from."""
    return _read_array(k, dev, "device_property_read_u16_array")


@service("int device_property_read_u32_array(const struct device *dev, const char *propname, u32 *val, "
         "size_t nval)")
def device_property_read_u32_array(k: Kernel, dev: int, propname: int, val: int, nval: int) -> int:
    """-EINVAL: no firmware node to read the property from."""
    return _read_array(k, dev, "device_property_read_u32_array")


@service("int device_property_read_string(const struct device *dev, const char *propname, const char **val)")
def device_property_read_string(k: Kernel, dev: int, propname: int, val: int) -> int:
    """-EINVAL: no firmware node to read the property from."""
    return _read_array(k, dev, "device_property_read_string")


@service("bool fwnode_property_present(const struct fwnode_handle *fwnode, const char *propname)")
def fwnode_property_present(k: Kernel, fwnode: int, propname: int) -> int:
    """false for a NULL node."""
    _unmodelled(k, "fwnode_property_present", fwnode)
    return 0


@service("int fwnode_property_read_u32_array(const struct fwnode_handle *fwnode, const char *propname, u32 *val, "
         "size_t nval)")
def fwnode_property_read_u32_array(k: Kernel, fwnode: int, propname: int, val: int, nval: int) -> int:
    """-EINVAL for a NULL node."""
    _unmodelled(k, "fwnode_property_read_u32_array", fwnode)
    return -EINVAL


@service("int fwnode_property_read_string(const struct fwnode_handle *fwnode, const char *propname, "
         "const char **val)")
def fwnode_property_read_string(k: Kernel, fwnode: int, propname: int, val: int) -> int:
    """-EINVAL for a NULL node."""
    _unmodelled(k, "fwnode_property_read_string", fwnode)
    return -EINVAL


@service("void fwnode_handle_put(struct fwnode_handle *fwnode)")
def fwnode_handle_put(k: Kernel, fwnode: int) -> None:
    """Drop a node reference: nothing to drop for NULL."""
    _unmodelled(k, "fwnode_handle_put", fwnode)


# -- the device tree: none on this PC (of_* with a NULL node) --------------------------------------------

@service("struct property *of_find_property(const struct device_node *np, const char *name, int *lenp)")
def of_find_property(k: Kernel, np: int, name: int, lenp: int) -> int:
    """NULL: there is no device tree node to hold the property."""
    _unmodelled(k, "of_find_property", np)
    return 0


@service("const void *of_get_property(const struct device_node *node, const char *name, int *lenp)")
def of_get_property(k: Kernel, node: int, name: int, lenp: int) -> int:
    """NULL: no node, no property."""
    _unmodelled(k, "of_get_property", node)
    return 0


@service("int of_property_read_variable_u32_array(const struct device_node *np, const char *propname, "
         "u32 *out_values, size_t sz_min, size_t sz_max)")
def of_property_read_variable_u32_array(k: Kernel, np: int, propname: int, out: int, sz_min: int,
                                        sz_max: int) -> int:
    """-EINVAL: the property does not exist."""
    _unmodelled(k, "of_property_read_variable_u32_array", np)
    return -EINVAL


@service("int of_property_read_string(const struct device_node *np, const char *propname, const char **out_string)")
def of_property_read_string(k: Kernel, np: int, propname: int, out: int) -> int:
    """-EINVAL: the property does not exist."""
    _unmodelled(k, "of_property_read_string", np)
    return -EINVAL


@service("int of_device_is_compatible(const struct device_node *device, const char *compat)")
def of_device_is_compatible(k: Kernel, device: int, compat: int) -> int:
    """0: no node is compatible with anything."""
    _unmodelled(k, "of_device_is_compatible", device)
    return 0


@service("const struct of_device_id *of_match_node(const struct of_device_id *matches, "
         "const struct device_node *node)")
def of_match_node(k: Kernel, matches: int, node: int) -> int:
    """NULL: without a node nothing matches."""
    _unmodelled(k, "of_match_node", node)
    return 0


@service("struct device_node *of_get_child_by_name(const struct device_node *node, const char *name)")
def of_get_child_by_name(k: Kernel, node: int, name: int) -> int:
    """NULL: no node, no children."""
    _unmodelled(k, "of_get_child_by_name", node)
    return 0


@service("struct device_node *of_get_next_available_child(const struct device_node *node, struct device_node *prev)")
def of_get_next_available_child(k: Kernel, node: int, prev: int) -> int:
    """NULL: no node, no children."""
    _unmodelled(k, "of_get_next_available_child", node)
    return 0


@service("struct device_node *of_get_next_child(const struct device_node *node, struct device_node *prev)")
def of_get_next_child(k: Kernel, node: int, prev: int) -> int:
    """NULL: no node, no children (mtd's partition parsers walk a node that is not there)."""
    _unmodelled(k, "of_get_next_child", node)
    return 0


@service("struct device_node *of_get_compatible_child(const struct device_node *parent, const char *compatible)")
def of_get_compatible_child(k: Kernel, parent: int, compatible: int) -> int:
    """NULL: no node, no compatible child."""
    _unmodelled(k, "of_get_compatible_child", parent)
    return 0


@service("const char *of_prop_next_string(struct property *prop, const char *cur)")
def of_prop_next_string(k: Kernel, prop: int, cur: int) -> int:
    """NULL: a NULL property has no strings (of_property_for_each_string ends at once)."""
    _unmodelled(k, "of_prop_next_string", prop)
    return 0


@service("int of_platform_populate(struct device_node *root, const struct of_device_id *matches, "
         "const struct of_dev_auxdata *lookup, struct device *parent)")
def of_platform_populate(k: Kernel, root: int, matches: int, lookup: int, parent: int) -> int:
    """-EINVAL: with no node given and no device tree root ("/") there is nothing to populate."""
    _unmodelled(k, "of_platform_populate", root)
    return -22


@service("int of_alias_get_id(struct device_node *np, const char *stem)")
def of_alias_get_id(k: Kernel, np: int, stem: int) -> int:
    """-ENODEV: with no device tree there is no /aliases node to number a device by."""
    _unmodelled(k, "of_alias_get_id", np)
    return -19


# -- child nodes, names, references, interrupts (driver core helpers; still no firmware nodes) -------------

@service("unsigned int device_get_child_node_count(const struct device *dev)")
def device_get_child_node_count(k: Kernel, dev: int) -> int:
    """No firmware node, so no child nodes: 0."""
    _unmodelled(k, "device_get_child_node_count", _fwnode(k, dev))
    return 0


@service("struct fwnode_handle *device_get_next_child_node(const struct device *dev, struct fwnode_handle *child)")
def device_get_next_child_node(k: Kernel, dev: int, child: int) -> int:
    """The next child node: NULL (none)."""
    _unmodelled(k, "device_get_next_child_node", _fwnode(k, dev))
    return 0


@service("struct fwnode_handle *fwnode_get_next_child_node(const struct fwnode_handle *fwnode, "
         "struct fwnode_handle *child)")
def fwnode_get_next_child_node(k: Kernel, fwnode: int, child: int) -> int:
    """The next child of a node: NULL (none)."""
    _unmodelled(k, "fwnode_get_next_child_node", fwnode)
    return 0


@service("const char *fwnode_get_name(const struct fwnode_handle *fwnode)")
def fwnode_get_name(k: Kernel, fwnode: int) -> int:
    """A node's name: NULL for no node (fwnode_call_ptr_op)."""
    _unmodelled(k, "fwnode_get_name", fwnode)
    return 0


@service("int device_property_read_string_array(const struct device *dev, const char *propname, "
         "const char **val, size_t nval)")
def device_property_read_string_array(k: Kernel, dev: int, propname: int, val: int, nval: int) -> int:
    """No property: -EINVAL."""
    return _read_array(k, dev, "device_property_read_string_array")


@service("int device_property_match_string(const struct device *dev, const char *propname, const char *string)")
def device_property_match_string(k: Kernel, dev: int, propname: int, string: int) -> int:
    """No property to search: -EINVAL."""
    return _read_array(k, dev, "device_property_match_string")


@service("int fwnode_irq_get_byname(const struct fwnode_handle *fwnode, const char *name)")
def fwnode_irq_get_byname(k: Kernel, fwnode: int, name: int) -> int:
    """No "interrupt-names" to look in: -EINVAL."""
    _unmodelled(k, "fwnode_irq_get_byname", fwnode)
    return -EINVAL


@service("struct fwnode_handle *fwnode_find_reference(const struct fwnode_handle *fwnode, const char *name, "
         "unsigned int index)")
def fwnode_find_reference(k: Kernel, fwnode: int, name: int, index: int) -> int:
    """fwnode_property_get_reference_args on no node is -ENOENT: ERR_PTR(-ENOENT)."""
    _unmodelled(k, "fwnode_find_reference", fwnode)
    return (-2) & 0xFFFFFFFF


@service("void set_primary_fwnode(struct device *dev, struct fwnode_handle *fwnode)")
def set_primary_fwnode(k: Kernel, dev: int, fwnode: int) -> None:
    """Make ``fwnode`` the device's firmware node (NULL clears it)."""
    if dev:
        Fields(k.memory, "device", dev)["fwnode"] = fwnode


@service("int of_irq_get_byname(struct device_node *dev, const char *name)")
def of_irq_get_byname(k: Kernel, node: int, name: int) -> int:
    """No DT node, no "interrupt-names": -EINVAL."""
    _unmodelled(k, "of_irq_get_byname", node)
    return -EINVAL


@service("int __of_parse_phandle_with_args(const struct device_node *np, const char *list_name, "
         "const char *cells_name, int cell_count, int index, struct of_phandle_args *out_args)")
def __of_parse_phandle_with_args(k: Kernel, np: int, list_name: int, cells_name: int, cell_count: int, index: int,
                                 out_args: int) -> int:
    """No node, so no phandle list: -ENOENT."""
    _unmodelled(k, "__of_parse_phandle_with_args", np)
    return -2


@service("struct platform_device *of_find_device_by_node(struct device_node *np)")
def of_find_device_by_node(k: Kernel, np: int) -> int:
    """No DT node has a device: NULL."""
    _unmodelled(k, "of_find_device_by_node", np)
    return 0


@service("int of_get_mac_address(struct device_node *np, u8 *addr)")
def of_get_mac_address(k: Kernel, np: int, addr: int) -> int:
    """No DT node to hold a MAC address: -ENODEV."""
    _unmodelled(k, "of_get_mac_address", np)
    return -19


@service("int of_device_uevent_modalias(const struct device *dev, struct kobj_uevent_env *env)")
def of_device_uevent_modalias(k: Kernel, dev: int, env: int) -> int:
    """No DT node, so no "of:N...T...C..." modalias to add: -ENODEV (callers such as mdio_uevent go on)."""
    _unmodelled(k, "of_device_uevent_modalias", Fields(k.memory, "device", dev)["of_node"] if dev else 0)
    return -19


@service("const struct of_device_id *of_match_device(const struct of_device_id *matches, const struct device *dev)")
def of_match_device(k: Kernel, matches: int, dev: int) -> int:
    """No DT node to match the table against: NULL."""
    _unmodelled(k, "of_match_device", Fields(k.memory, "device", dev)["of_node"] if dev else 0)
    return 0
