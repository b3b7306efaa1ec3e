"""The application's own types, registered by name so that the codec may store them."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any, TypeVar

from jsonpersist._errors import RegistrationError, UnsupportedTypeError

__all__ = ("TypeRegistry",)

T = TypeVar("T")
Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]


class TypeRegistry:
    """The application's own types that the codec may store, each under a name.

    Registration is explicit: a file can only name a type that was registered here, and the
    decoder never imports anything a file names.

    Examples:
        .. code-block:: python

            types = TypeRegistry()
            types.register_dataclass(CartItem)
            types.register_enum(Plan)
            types.register(Fraction, encode=str, decode=Fraction)
            persistence = JsonPersistence("state", types=types)
    """

    __slots__ = ("_by_name", "_by_type")

    def __init__(self) -> None:
        self._by_type: dict[type, tuple[str, Encoder]] = {}
        self._by_name: dict[str, Decoder] = {}

    def register(
        self,
        cls: type[T],
        *,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        name: str | None = None,
    ) -> None:
        """Registers a type with functions converting it to and from a storable value.

        Args:
            cls (:obj:`type`): The exact class (subclasses need their own registration).
            encode (Callable): Takes an instance, returns any value the codec can store.
            decode (Callable): Takes what :paramref:`encode` returned, returns an instance.
            name (:obj:`str`, optional): The name written to files. Defaults to the class's
                ``__qualname__``. Keep it stable: renaming it makes old files unreadable.

        Raises:
            RegistrationError: The class or the name is already registered (a
                :exc:`ValueError`); the registry is left unchanged.
        """
        key = name or cls.__qualname__
        if cls in self._by_type or key in self._by_name:
            raise RegistrationError(
                f"{cls.__qualname__} or the name {key!r} is already registered; register "
                "each class once, under a name no other class has (name=...)",
                cls,
                key,
            )
        self._by_type[cls] = (key, encode)
        self._by_name[key] = decode

    def register_dataclass(self, cls: type[Any], *, name: str | None = None) -> None:
        """Registers a dataclass; it is stored as a dict of its ``init`` fields.

        Args:
            cls (:obj:`type`): A dataclass.
            name (:obj:`str`, optional): The name written to files, see :meth:`register`.

        Raises:
            UnsupportedTypeError: :paramref:`cls` is not a dataclass (a :exc:`TypeError`).
            RegistrationError: As for :meth:`register`.
        """
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise UnsupportedTypeError(
                f"cannot register {cls!r} as a dataclass: it is not a dataclass (an instance "
                "is not enough); use register() with an encoder and a decoder"
            )
        names = tuple(field.name for field in dataclasses.fields(cls) if field.init)

        def encode(obj: Any) -> dict[str, Any]:
            return {field: getattr(obj, field) for field in names}

        def decode(data: Any) -> Any:
            if type(data) is not dict or set(data) - set(names):
                raise ValueError(f"expected a dict with the fields {list(names)}")
            return cls(**data)

        self.register(cls, encode=encode, decode=decode, name=name)

    def register_enum(self, cls: type[enum.Enum], *, name: str | None = None) -> None:
        """Registers an :class:`enum.Enum` (including ``IntEnum``); stored by member value.

        Args:
            cls (:obj:`type`): An enum class.
            name (:obj:`str`, optional): The name written to files, see :meth:`register`.

        Raises:
            RegistrationError: As for :meth:`register`.
        """
        self.register(cls, encode=lambda member: member.value, decode=cls, name=name)

    def encoder(self, cls: type) -> tuple[str, Encoder] | None:
        """The name and encoder registered for exactly this class, if any."""
        return self._by_type.get(cls)

    def decoder(self, name: str) -> Decoder | None:
        """The decoder registered under this name, if any."""
        return self._by_name.get(name)
