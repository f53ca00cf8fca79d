"""Writing files and folders so that a failure never leaves a half-written one."""

import contextlib
import glob
import os
import pathlib
import shutil
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


def atomic_replace_dir(temp_dir, target_dir):
    """Moves the finished temp_dir to target_dir, replacing whatever was there (checked by the caller).

    The old target is first renamed aside, so a failure in between leaves either the old or the new one.
    """
    parent = os.path.dirname(os.path.abspath(target_dir))
    old = None
    if os.path.lexists(target_dir):
        if os.path.isdir(target_dir) and not os.path.islink(target_dir) and not os.listdir(target_dir):
            os.rmdir(target_dir)
        else:
            old = tempfile.mkdtemp(prefix="." + os.path.basename(target_dir) + ".old-", dir=parent)
            os.rename(target_dir, os.path.join(old, "old"))
    os.rename(temp_dir, target_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_temp_dirs(target_dir):
    """Deletes the temporary folders that a killed writer of `target_dir` left beside it (from
    `make_temp_dir_beside` and `atomic_replace_dir`); returns their paths. Only one writer of a
    target may run at a time."""
    parent = os.path.dirname(os.path.abspath(target_dir))
    name = os.path.basename(os.path.abspath(target_dir))
    stale = [path for suffix in (".tmp-", ".old-")
             for path in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}{suffix}*"))
             if os.path.isdir(path) and not os.path.islink(path)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def make_temp_dir_beside(target_dir):
    """An empty temporary directory in target_dir's parent (same file system, so rename is atomic).

    It gets the permissions of a plain `mkdir` (mkdtemp's are owner-only), since it becomes the target.
    """
    parent = os.path.dirname(os.path.abspath(target_dir))
    os.makedirs(parent, exist_ok=True)
    temp_dir = tempfile.mkdtemp(prefix="." + os.path.basename(target_dir) + ".tmp-", dir=parent)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(temp_dir, 0o777 & ~umask)
    return temp_dir


def write_text_atomic(path, text):
    """Replaces `path` with `text` (UTF-8) atomically."""
    with atomic_write(path, "w") as file:
        file.write(text)
