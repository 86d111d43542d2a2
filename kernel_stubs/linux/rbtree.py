"""lib/rbtree.c as Linux 6.1 exports it, over the guest's own nodes.

``struct rb_node`` is Linux's (generated layout): ``__rb_parent_color``
(the parent's address with the colour in bit 0, RB_RED 0 / RB_BLACK 1),
``rb_right``, ``rb_left``; ``struct rb_root`` is one pointer. The module
links its node with the inline ``rb_link_node`` and calls
``rb_insert_color``, which rebalances exactly as lib/rbtree.c does (the
same rotations in the same order, so a tree the module walks inline looks
as on Linux); ``rb_erase`` likewise, with the successor swap of
``__rb_erase_augmented``. The augmented entry points call the module's
``augment_rotate`` callback at each rotation, as Linux's do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .layout import offset

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

PC = offset("rb_node", "__rb_parent_color")
RIGHT = offset("rb_node", "rb_right")
LEFT = offset("rb_node", "rb_left")
RB_RED, RB_BLACK = 0, 1
MAX_DEPTH = 4096  # steps one walk may take: more means a corrupt (cyclic) tree

Rotate = Callable[[int, int], None]


class _Tree:
    """Reads and writes of rb_node fields in guest memory, as lib/rbtree.c's helpers."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.read = k.memory.read_u32
        self.write = k.memory.write_u32

    def pc(self, n: int) -> int:
        return self.read(n + PC)

    def parent(self, n: int) -> int:
        return self.pc(n) & ~3

    def is_black(self, n: int) -> bool:
        return bool(self.pc(n) & RB_BLACK)

    def is_red(self, n: int) -> bool:
        return not self.pc(n) & RB_BLACK

    def left(self, n: int) -> int:
        return self.read(n + LEFT)

    def right(self, n: int) -> int:
        return self.read(n + RIGHT)

    def set_left(self, n: int, v: int) -> None:
        self.write(n + LEFT, v)

    def set_right(self, n: int, v: int) -> None:
        self.write(n + RIGHT, v)

    # lib/rbtree.c writes each rebalancing case twice, mirrored; here one case takes the side
    # (LEFT or RIGHT, the member's offset) and the mirror is the other side.
    def child(self, n: int, side: int) -> int:
        return self.read(n + side)

    def set_child(self, n: int, side: int, v: int) -> None:
        self.write(n + side, v)

    def set_parent(self, n: int, p: int) -> None:
        self.write(n + PC, (self.pc(n) & RB_BLACK) | p)

    def set_parent_color(self, n: int, p: int, color: int) -> None:
        self.write(n + PC, p | color)

    def set_black(self, n: int) -> None:
        self.write(n + PC, self.pc(n) | RB_BLACK)

    def change_child(self, old: int, new: int, parent: int, root: int) -> None:
        if parent:
            if self.left(parent) == old:
                self.set_left(parent, new)
            else:
                self.set_right(parent, new)
        else:
            self.write(root, new)

    def rotate_set_parents(self, old: int, new: int, root: int, color: int) -> None:
        parent = self.parent(old)
        self.write(new + PC, self.pc(old))
        self.set_parent_color(old, new, color)
        self.change_child(old, new, parent, root)

    def corrupt(self, what: str, node: int) -> GuestFault:
        k = self.k
        return GuestFault("list-corrupt", f"{what} at {k.symbolizer.short(k.current_caller)}: more than {MAX_DEPTH} "
                          f"steps from {node:#x}: the tree is corrupt (cyclic)", pc=k.current_caller, address=node)


def _no_rotate(old: int, new: int) -> None:
    pass


def _other(side: int) -> int:
    return RIGHT if side == LEFT else LEFT


def insert(t: _Tree, node: int, root: int, rotate: Rotate) -> None:
    """__rb_insert(): rebalance after ``node`` was linked red under its parent."""
    parent = t.pc(node)  # rb_red_parent: a red node's parent_color is its parent
    for _ in range(MAX_DEPTH):
        if not parent:
            t.set_parent_color(node, 0, RB_BLACK)
            return
        if t.is_black(parent):
            return
        gparent = t.pc(parent)
        # The side parent hangs on (Linux: parent != gparent->rb_right, so the left), and the other.
        near = LEFT if parent != t.right(gparent) else RIGHT
        far = _other(near)
        uncle = t.child(gparent, far)
        if uncle and t.is_red(uncle):  # case 1: recolour, and go up
            t.set_parent_color(uncle, gparent, RB_BLACK)
            t.set_parent_color(parent, gparent, RB_BLACK)
            node = gparent
            parent = t.parent(node)
            t.set_parent_color(node, parent, RB_RED)
            continue
        tmp = t.child(parent, far)
        if node == tmp:  # case 2: rotate at parent
            tmp = t.child(node, near)
            t.set_child(parent, far, tmp)
            t.set_child(node, near, parent)
            if tmp:
                t.set_parent_color(tmp, parent, RB_BLACK)
            t.set_parent_color(parent, node, RB_RED)
            rotate(parent, node)
            parent = node
            tmp = t.child(node, far)
        t.set_child(gparent, near, tmp)  # case 3: rotate at gparent
        t.set_child(parent, far, gparent)
        if tmp:
            t.set_parent_color(tmp, gparent, RB_BLACK)
        t.rotate_set_parents(gparent, parent, root, RB_RED)
        rotate(gparent, parent)
        return
    raise t.corrupt("rb_insert_color", node)


def erase_color(t: _Tree, parent: int, root: int, rotate: Rotate) -> None:
    """____rb_erase_color(): restore the black heights after a black node left below ``parent``."""
    node = 0
    for _ in range(MAX_DEPTH):
        # The side node is on (Linux: node != parent->rb_right, so the left), and its sibling's.
        near = LEFT if node != t.right(parent) else RIGHT
        far = _other(near)
        sibling = t.child(parent, far)
        if t.is_red(sibling):  # case 1: rotate the red sibling up
            tmp1 = t.child(sibling, near)
            t.set_child(parent, far, tmp1)
            t.set_child(sibling, near, parent)
            t.set_parent_color(tmp1, parent, RB_BLACK)
            t.rotate_set_parents(parent, sibling, root, RB_RED)
            rotate(parent, sibling)
            sibling = tmp1
        tmp1 = t.child(sibling, far)
        if not tmp1 or t.is_black(tmp1):
            tmp2 = t.child(sibling, near)
            if not tmp2 or t.is_black(tmp2):  # case 2: recolour the sibling, go up if parent is black
                t.set_parent_color(sibling, parent, RB_RED)
                if t.is_red(parent):
                    t.set_black(parent)
                else:
                    node = parent
                    parent = t.parent(node)
                    if parent:
                        continue
                return
            tmp1 = t.child(tmp2, far)  # case 3: rotate at sibling
            t.set_child(sibling, near, tmp1)
            t.set_child(tmp2, far, sibling)
            t.set_child(parent, far, tmp2)
            if tmp1:
                t.set_parent_color(tmp1, sibling, RB_BLACK)
            rotate(sibling, tmp2)
            tmp1 = sibling
            sibling = tmp2
        tmp2 = t.child(sibling, near)  # case 4: rotate at parent
        t.set_child(parent, far, tmp2)
        t.set_child(sibling, near, parent)
        t.set_parent_color(tmp1, sibling, RB_BLACK)
        if tmp2:
            t.set_parent(tmp2, parent)
        t.rotate_set_parents(parent, sibling, root, RB_BLACK)
        rotate(parent, sibling)
        return
    raise t.corrupt("rb_erase", parent)


def erase(t: _Tree, node: int, root: int) -> int:
    """__rb_erase_augmented() with no augmentation: unlink ``node``; the node to rebalance from, or 0."""
    child, tmp = t.right(node), t.left(node)
    if not tmp:
        pc = t.pc(node)
        parent = pc & ~3
        t.change_child(node, child, parent, root)
        if child:
            t.write(child + PC, pc)
            return 0
        return parent if pc & RB_BLACK else 0
    if not child:
        pc = t.pc(node)
        t.write(tmp + PC, pc)
        t.change_child(node, tmp, pc & ~3, root)
        return 0
    successor = child
    tmp = t.left(child)
    if not tmp:
        parent = successor
        child2 = t.right(successor)
    else:
        for _ in range(MAX_DEPTH):
            parent = successor
            successor = tmp
            tmp = t.left(tmp)
            if not tmp:
                break
        else:
            raise t.corrupt("rb_erase", node)
        child2 = t.right(successor)
        t.set_left(parent, child2)
        t.set_right(successor, child)
        t.set_parent(child, successor)
    tmp = t.left(node)
    t.set_left(successor, tmp)
    t.set_parent(tmp, successor)
    pc = t.pc(node)
    t.change_child(node, successor, pc & ~3, root)
    if child2:
        t.set_parent_color(child2, parent, RB_BLACK)
        rebalance = 0
    else:
        rebalance = parent if t.is_black(successor) else 0
    t.write(successor + PC, pc)
    return rebalance


def _guest_rotate(k: Kernel, callback: int) -> Rotate:
    if not callback:
        return _no_rotate
    return lambda old, new: k.call_function_pointer(callback, old, new) and None


@service("void rb_insert_color(struct rb_node *node, struct rb_root *root)")
def rb_insert_color(k: Kernel, node: int, root: int) -> None:
    """Rebalance after rb_link_node() put ``node`` (red) in the tree."""
    insert(_Tree(k), node, root, _no_rotate)


@service("void __rb_insert_augmented(struct rb_node *node, struct rb_root *root, "
         "void (*augment_rotate)(struct rb_node *old, struct rb_node *new))")
def __rb_insert_augmented(k: Kernel, node: int, root: int, augment_rotate: int) -> None:
    """rb_insert_color(), calling the module's ``augment_rotate`` at each rotation."""
    insert(_Tree(k), node, root, _guest_rotate(k, augment_rotate))


@service("void rb_erase(struct rb_node *node, struct rb_root *root)")
def rb_erase(k: Kernel, node: int, root: int) -> None:
    """Take ``node`` out of the tree and rebalance."""
    t = _Tree(k)
    rebalance = erase(t, node, root)
    if rebalance:
        erase_color(t, rebalance, root, _no_rotate)


@service("void __rb_erase_color(struct rb_node *parent, struct rb_root *root, "
         "void (*augment_rotate)(struct rb_node *old, struct rb_node *new))")
def __rb_erase_color(k: Kernel, parent: int, root: int, augment_rotate: int) -> None:
    """The rebalancing half of an augmented erase (the module's inline part unlinked the node)."""
    erase_color(_Tree(k), parent, root, _guest_rotate(k, augment_rotate))


@service("struct rb_node *rb_first(const struct rb_root *root)")
def rb_first(k: Kernel, root: int) -> int:
    """The leftmost node, or NULL."""
    t = _Tree(k)
    n = k.memory.read_u32(root)
    for _ in range(MAX_DEPTH):
        if not n or not t.left(n):
            return n
        n = t.left(n)
    raise t.corrupt("rb_first", root)


@service("struct rb_node *rb_last(const struct rb_root *root)")
def rb_last(k: Kernel, root: int) -> int:
    """The rightmost node, or NULL."""
    t = _Tree(k)
    n = k.memory.read_u32(root)
    for _ in range(MAX_DEPTH):
        if not n or not t.right(n):
            return n
        n = t.right(n)
    raise t.corrupt("rb_last", root)


def _step(k: Kernel, node: int, forward: bool, what: str) -> int:
    t = _Tree(k)
    if t.pc(node) == node:  # RB_EMPTY_NODE
        return 0
    down, up = (t.right, t.left) if forward else (t.left, t.right)
    if down(node):
        node = down(node)
        for _ in range(MAX_DEPTH):
            if not up(node):
                return node
            node = up(node)
        raise t.corrupt(what, node)
    for _ in range(MAX_DEPTH):
        parent = t.parent(node)
        if not parent or node != down(parent):
            return parent
        node = parent
    raise t.corrupt(what, node)


@service("struct rb_node *rb_next(const struct rb_node *node)")
def rb_next(k: Kernel, node: int) -> int:
    """The in-order successor, or NULL."""
    return _step(k, node, True, "rb_next")


@service("struct rb_node *rb_prev(const struct rb_node *node)")
def rb_prev(k: Kernel, node: int) -> int:
    """The in-order predecessor, or NULL."""
    return _step(k, node, False, "rb_prev")


@service("void rb_replace_node(struct rb_node *victim, struct rb_node *new, struct rb_root *root)")
def rb_replace_node(k: Kernel, victim: int, new: int, root: int) -> None:
    """Put ``new`` where ``victim`` is (same colour and children), without rebalancing."""
    t = _Tree(k)
    parent = t.parent(victim)
    k.memory.write(new, k.memory.read(victim, 12))
    if t.left(victim):
        t.set_parent(t.left(victim), new)
    if t.right(victim):
        t.set_parent(t.right(victim), new)
    t.change_child(victim, new, parent, root)


@service("void rb_replace_node_rcu(struct rb_node *victim, struct rb_node *new, struct rb_root *root)")
def rb_replace_node_rcu(k: Kernel, victim: int, new: int, root: int) -> None:
    """rb_replace_node() (the RCU variant only orders the stores, one CPU here)."""
    rb_replace_node(k, victim, new, root)


def _left_deepest(t: _Tree, node: int) -> int:
    for _ in range(MAX_DEPTH):
        if t.left(node):
            node = t.left(node)
        elif t.right(node):
            node = t.right(node)
        else:
            return node
    raise t.corrupt("rb_first_postorder", node)


@service("struct rb_node *rb_first_postorder(const struct rb_root *root)")
def rb_first_postorder(k: Kernel, root: int) -> int:
    """The first node of a post-order walk (children before parents), or NULL."""
    n = k.memory.read_u32(root)
    return _left_deepest(_Tree(k), n) if n else 0


@service("struct rb_node *rb_next_postorder(const struct rb_node *node)")
def rb_next_postorder(k: Kernel, node: int) -> int:
    """The next node of a post-order walk, or NULL."""
    if not node:
        return 0
    t = _Tree(k)
    parent = t.parent(node)
    if parent and node == t.left(parent) and t.right(parent):
        return _left_deepest(t, t.right(parent))
    return parent
