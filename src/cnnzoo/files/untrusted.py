"""Files from a stranger: what cnnzoo checks before it reads them, so that opening a file never runs
code from it, never reads another file it names, and never swallows the machine's memory.

The threat model: a user runs `cnnzoo eval/predict/bench/train --init` on a file someone else made
(a checkpoint, an exported model, Keras weights). Whatever the file holds, cnnzoo either refuses it
with one line naming what it refused, or reads tensors and plain JSON from it and nothing more.

- Special files (a FIFO, a device, a socket, a folder) are refused before they are opened: `regular_file`.
- Zip containers (.keras, .pt2, a torch .pt): every member's name is a plain relative path (no "..",
  no absolute path, no duplicates), every member's size and the total are under `MAX_MEMBER` and
  `MAX_TOTAL`, a compressed member expands at most `MAX_RATIO`-fold, all checked on the zip's
  directory before a byte is decompressed; and reads stop at the size the directory declared.
- .pt2 (torch.export): torch.export.load unpickles "opaque" and custom-object constants, runs a pickled
  tensor through torch.load(weights_only=False), `exec`s the file's guard code and parses its shape
  expressions with sympy's eval. `check_exported_program` therefore accepts only what `cnnzoo export`
  writes: stored members of the known layout, tensors as raw bytes (no pickle anywhere), a graph of
  ATen operators, no guard code, shape expressions of symbols, integers and arithmetic only.
- HDF5 (.h5, the weights inside .keras): `check_hdf5` walks every link without following it and refuses
  external links, soft links, external raw storage, virtual datasets, filters other than HDF5's own
  compressions, and any dataset that is not a plain array of numbers of a bounded size.
"""
import json
import os
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import CnnzooError

MAX_MEMBER = 2 * 2**30  # bytes: the largest member of a container (VGG-19's Keras weights are 549 MiB)
MAX_TOTAL = 4 * 2**30  # bytes: all members together
MAX_RATIO = 100  # a compressed member may expand this much (weights compress about 1.1-fold; a zip bomb 1000-fold)


class UnsafeFileError(CnnzooError):
    """A file that asks for something cnnzoo will not do on a stranger's file (run code, read another file,
    expand without bound). Nothing was run or read beyond the file's directory."""


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` if it is a regular file (after symlinks); a FIFO, device, socket or folder is refused before
    it is opened (reading a FIFO blocks forever, a device may never end)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise CnnzooError(f"no {what} at {path} ({e.strerror or e})") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")  # fmt: skip
        raise CnnzooError(f"{path} is {kind}, not a {what}: give a regular file")
    return path


# -- zip containers -------------------------------------------------------------------------------------


def _check_name(name: str, file: Path) -> None:
    parts = PurePosixPath(name).parts
    if not name or "\\" in name or "\0" in name or name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
        raise UnsafeFileError(f"{file}: member {name!r} is not a plain relative path: refused")


def checked_zip(path: str | os.PathLike, stored_only: bool = False) -> zipfile.ZipFile:
    """The zip at `path`, opened after its directory was checked: names, sizes, total and expansion ratio
    (with `stored_only`, every member must be stored uncompressed, as PyTorch writes its archives)."""
    path = regular_file(path)
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CnnzooError(f"{path} is not a readable zip archive ({e})") from None
    try:
        seen, total = set(), 0
        for info in z.infolist():
            _check_name(info.filename, path)
            if info.filename in seen:
                raise UnsafeFileError(f"{path}: member {info.filename!r} appears twice: refused")
            seen.add(info.filename)
            if stored_only and info.compress_type != zipfile.ZIP_STORED:
                raise UnsafeFileError(f"{path}: member {info.filename!r} is compressed, where this format stores members as they are: refused")
            if info.file_size > MAX_MEMBER:
                raise UnsafeFileError(f"{path}: member {info.filename!r} declares {info.file_size / 2**30:.1f} GiB, over the "
                                      f"{MAX_MEMBER / 2**30:.0f} GiB cnnzoo reads from one member: refused")  # fmt: skip
            if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise UnsafeFileError(f"{path}: member {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}-fold "
                                      f"(a zip bomb; weights compress about 1.1-fold): refused")  # fmt: skip
            total += info.file_size
        if total > MAX_TOTAL:
            raise UnsafeFileError(f"{path}: its members declare {total / 2**30:.1f} GiB in all, over {MAX_TOTAL / 2**30:.0f} GiB: refused")
    except BaseException:
        z.close()
        raise
    return z


def read_member(z: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, read no further than the size the directory declared (a lying directory is refused)."""
    info = z.getinfo(name)
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise UnsafeFileError(f"{z.filename}: member {name!r} holds other than the {info.file_size:,} bytes it declares: refused")
    return data


def check_torch_archive(path: str | os.PathLike) -> Path:
    """A file for torch.load(weights_only=True): regular, and where it is a zip (torch.save's format since
    1.6), one whose members are stored as torch writes them, under the size limits, with plain names."""
    path = regular_file(path, "checkpoint")
    if zipfile.is_zipfile(path):
        checked_zip(path, stored_only=True).close()
    return path


# -- torch.export archives (.pt2) ----------------------------------------------------------------------

_PT2_MEMBERS = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id|models/model\.json"
    r"|data/weights/model_weights_config\.json|data/weights/weight_\d+|data/constants/model_constants_config\.json"
    r"|data/constants/tensor_\d+|data/sample_inputs/model\.pt|data/sample_inputs/model/[\w./]+|extra/cnnzoo\.json)"
)  # fmt: skip
_PT2_PAYLOAD = {"model_weights_config.json": ("data/weights/", "weight_"), "model_constants_config.json": ("data/constants/", "tensor_")}
_OPERATOR = re.compile(r"torch\.ops\.aten\.\w+\.\w+|_operator\.getitem")
# shape expressions, as torch writes them (sympy's srepr: "Symbol('s77', positive=True, integer=True)", or plain
# "2*s77 + 1"): sympy's classes and torch's integer functions, symbol names (s0, u3) quoted or not, numbers,
# arithmetic; no attribute, no subscript, no other name and no other string, so sympy's eval of them can
# only compute a number
_SYMPY_NAMES = {"Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Abs", "oo", "FloorDiv", "CeilDiv",
                "Mod", "PythonMod", "CleanDiv", "TruncToInt", "FloorToInt", "CeilToInt", "True", "False", "positive", "integer",
                "nonnegative", "negative", "real", "finite", "Eq", "Ne", "Lt", "Le", "Gt", "Ge"}  # fmt: skip
_SYMBOL = r"[a-z]\d+"
_EXPRESSION = re.compile(r"(?:[\w\s+\-*/%(),<>=!]|'" + _SYMBOL + r"')*")


def _check_expression(text: object, file: Path, where: str) -> None:
    if isinstance(text, str) and ("**" in text or len(text) > 1000):  # 9**9**9**9 would keep sympy busy for ever
        raise UnsafeFileError(f"{file}: {where} has the shape expression {text[:80]!r}, a power or over 1,000 characters: refused")
    if not isinstance(text, str) or not _EXPRESSION.fullmatch(text):
        raise UnsafeFileError(f"{file}: {where} has the shape expression {str(text)[:80]!r}, not arithmetic on sizes: refused")
    for name in re.findall(r"[A-Za-z_]\w*", text):
        if not (re.fullmatch(_SYMBOL, name) or name in _SYMPY_NAMES):
            raise UnsafeFileError(f"{file}: {where} has the shape expression {text[:80]!r}, naming {name!r}: refused")


def _walk_graph(value: object, file: Path, where: str) -> None:
    """Every node target, every shape expression and every custom object of a serialized ExportedProgram."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "target" and isinstance(item, str) and not _OPERATOR.fullmatch(item):
                raise UnsafeFileError(f"{file}: {where} calls {item[:80]!r}, not an ATen operator: refused")
            if key == "expr_str":
                _check_expression(item, file, where)
            if key in ("custom_obj_values", "as_custom_obj") and item:
                raise UnsafeFileError(f"{file}: {where} holds a custom object (loaded by unpickling): refused")
            _walk_graph(item, file, where)
    elif isinstance(value, list):
        for item in value:
            _walk_graph(item, file, where)


def check_exported_program(path: str | os.PathLike) -> None:
    """Refuse a .pt2 archive that is anything but what `cnnzoo export --format exported-program` writes,
    before torch.export.load reads it (see the module's docstring for what that would run)."""
    path = Path(path)
    with checked_zip(path, stored_only=True) as z:
        names = z.namelist()
        roots = {n.split("/", 1)[0] for n in names}
        if len(roots) != 1:
            raise UnsafeFileError(f"{path}: members under {len(roots)} top-level folders, not one archive: refused")
        root = roots.pop() + "/"
        inner = {n[len(root):]: n for n in names}
        for name in inner:
            if not _PT2_MEMBERS.fullmatch(name):
                raise UnsafeFileError(f"{path}: member {root + name!r} is not part of an exported program cnnzoo reads "
                                      f"(only raw tensors, the graph and cnnzoo's metadata are): refused")  # fmt: skip
        for config, (folder, prefix) in _PT2_PAYLOAD.items():
            key = folder + config
            if key not in inner:
                raise UnsafeFileError(f"{path}: no {root + key}: not an archive of `cnnzoo export`")
            try:
                entries = json.loads(read_member(z, inner[key])).get("config", {})
                items = entries.items()
            except (ValueError, AttributeError):
                raise UnsafeFileError(f"{path}: {root + key} is not a JSON table of tensors: refused") from None
            for fqn, entry in items:
                member = str(entry.get("path_name", "")) if isinstance(entry, dict) else ""
                if not isinstance(entry, dict) or entry.get("use_pickle") is not False or not re.fullmatch(re.escape(prefix) + r"\d+", member):
                    raise UnsafeFileError(f"{path}: {root + key} asks to unpickle {fqn!r} ({root + folder + member}): "
                                          f"an exported program of cnnzoo holds raw tensors only: refused")  # fmt: skip
                if folder + member not in inner:
                    raise UnsafeFileError(f"{path}: {root + key} names {member!r}, which the archive does not hold: refused")
        if "models/model.json" not in inner:
            raise UnsafeFileError(f"{path}: no {root}models/model.json (the graph): not an archive of `cnnzoo export`")
        try:
            program = json.loads(read_member(z, inner["models/model.json"]))
        except ValueError:
            raise UnsafeFileError(f"{path}: {root}models/model.json is not JSON: refused") from None
        if not isinstance(program, dict):
            raise UnsafeFileError(f"{path}: {root}models/model.json is not a serialized ExportedProgram: refused")
        if program.get("guards_code"):
            raise UnsafeFileError(f"{path}: {root}models/model.json carries guard code (Python that loading would exec): refused")
        for key in (program.get("range_constraints") or {}):
            _check_expression(key, path, f"{root}models/model.json's range constraints")
        _walk_graph(program.get("graph_module", {}), path, f"{root}models/model.json")


# -- HDF5 (Keras weights) -------------------------------------------------------------------------------

_FILTERS = {1, 2, 3, 32000}  # deflate, shuffle, fletcher32, lzf: HDF5's and h5py's own, no plugin loaded


def check_hdf5(f, file: Path, stored_bytes: int) -> None:
    """Walk every link of the open h5py File `f` (`stored_bytes` long) without following one; refuse external
    and soft links, external raw storage, virtual datasets, plugin filters, datasets that are not plain
    numbers, and more data than the file can hold (`MAX_RATIO` times its size, for HDF5's compression).
    Runs before any dataset is read."""
    import h5py

    limit = min(MAX_TOTAL, max(2**26, MAX_RATIO * stored_bytes))
    total = 0
    pending, seen = [("/", f)], set()
    while pending:
        where, group = pending.pop()
        address = h5py.h5o.get_info(group.id).addr
        if address in seen:  # a hard link back up the tree would be walked forever
            raise UnsafeFileError(f"{file}: {where} is a group reached twice (a hard-link loop or alias); Keras weights have none: refused")
        seen.add(address)
        for name in group:
            full = where.rstrip("/") + "/" + name
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise UnsafeFileError(f"{file}: {full} is a link to another file ({link.filename}): refused")
            if isinstance(link, h5py.SoftLink):
                raise UnsafeFileError(f"{file}: {full} is a soft link (to {link.path}); Keras weights have none: refused")
            item = group.get(name)
            if isinstance(item, h5py.Group):
                pending.append((full, item))
                continue
            if not isinstance(item, h5py.Dataset):
                raise UnsafeFileError(f"{file}: {full} is neither a group nor a dataset: refused")
            plist = item.id.get_create_plist()
            if plist.get_external_count() > 0:
                raise UnsafeFileError(f"{file}: {full} stores its data in another file (external storage): refused")
            if item.is_virtual:
                raise UnsafeFileError(f"{file}: {full} is a virtual dataset (mapped from other files): refused")
            filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
            if filters - _FILTERS:
                raise UnsafeFileError(f"{file}: {full} needs the HDF5 filter(s) {sorted(filters - _FILTERS)}, loaded as plugins: refused")
            if item.dtype.kind not in "fiub":
                raise UnsafeFileError(f"{file}: {full} holds {item.dtype} values, not numbers: refused")
            total += item.size * item.dtype.itemsize
            if total > limit:
                raise UnsafeFileError(f"{file}: its datasets would expand to over {limit / 2**20:,.0f} MiB from a "
                                      f"{stored_bytes / 2**20:,.1f} MiB file (a compression bomb): refused")  # fmt: skip
