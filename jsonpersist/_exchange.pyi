from os import PathLike

def exchange(a: str | bytes | PathLike[str], b: str | bytes | PathLike[str], /) -> None: ...
def rename_noreplace(
    src: str | bytes | PathLike[str], dst: str | bytes | PathLike[str], /
) -> None: ...
def exchange_checked(
    new: str | bytes | PathLike[str],
    target: str | bytes | PathLike[str],
    ino: int,
    size: int,
    mtime_ns: int,
    ours: int,
    /,
) -> int: ...
