"""A registry of field types by name: built once, filled with types, then frozen."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from runtime.definition.model import FieldDef
from runtime.fieldtypes.base import FieldType, UnknownFieldType


class FieldTypeRegistry(Mapping[str, FieldType]):
    """Field types by name. The built-in types are registered with the same ``register``
    an extension calls; a frozen registry refuses new types, so the shared built-in one
    cannot be changed behind the back of a running model (tests build their own)."""

    def __init__(self, types: Iterable[type[FieldType]] = ()):
        self._types: dict[str, FieldType] = {}
        self._frozen = False
        for cls in types:
            self.register(cls)

    def register(self, cls: type[FieldType], *, replace: bool = False) -> type[FieldType]:
        """Register a FieldType subclass under ``cls.name``; usable as a decorator."""
        if self._frozen:
            raise TypeError(
                f"cannot register {cls!r}: this field-type registry is frozen "
                "(build your own with runtime.fieldtypes.builtin_registry())"
            )
        if not (isinstance(cls, type) and issubclass(cls, FieldType)) or not cls.name:
            raise TypeError(f"{cls!r} is not a named FieldType subclass")
        if cls.name in self._types and not replace:
            raise ValueError(f"field type {cls.name!r} is already registered")
        self._types[cls.name] = cls()
        return cls

    def freeze(self) -> FieldTypeRegistry:
        self._frozen = True
        return self

    def get_type(self, name: str) -> FieldType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownFieldType(name) from None

    def type_of(self, field: FieldDef) -> FieldType:
        return self.get_type(field.type)

    def __getitem__(self, name: str) -> FieldType:
        return self.get_type(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)
