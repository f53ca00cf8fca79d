"""Writing files so that a failure never leaves a half-written one."""

import contextlib
import os
import pathlib
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yields a file whose contents replace `path` only when the block completes.

    The data goes to a temporary file in the same folder (created if needed), is flushed to disk
    and renamed over `path`; on any error the temporary file is removed and `path` is untouched.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_name, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp_name)
        raise
