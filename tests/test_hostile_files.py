"""Files from a stranger (issue 30): generated corpora of hostile .pt2 archives, HDF5 weights, zip
containers and special files. Each must be refused with one clear error before anything in it runs,
before another file it names is read, and before it can expand in memory."""
import contextlib
import io
import json
import os
import pickle
import threading
import zipfile

import h5py
import numpy as np
import pytest
import torch

import cnnzoo
from cnnzoo.artifacts.checkpoint import load_checkpoint
from cnnzoo.artifacts.exported import load_exported
from cnnzoo.deploy.export import export_model
from cnnzoo.errors import CnnzooError
from cnnzoo.files.untrusted import UnsafeFileError, check_exported_program
from cnnzoo.interop.keras import read_keras_weights


class _Marker:
    """A pickle that, when loaded, creates the file `path`: proof that loading ran code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    file = tmp_path_factory.mktemp("pt2") / "r20.pt2"
    export_model(cnnzoo.create_model("resnet20", num_classes=10), {"model": "resnet20", "input_size": 32}, file, "exported-program",
                 dynamic_batch=True)  # fmt: skip
    return file


def _rewrite(src, dst, edit=None, extra=(), compress=zipfile.ZIP_STORED):
    """A copy of the archive `src` with members changed by `edit(name, bytes) -> bytes` and `extra` added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compress) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            data = edit(info.filename, data) if edit else data
            zout.writestr(zipfile.ZipInfo(info.filename), data, compress_type=compress)
        for name, data in extra:
            zout.writestr(zipfile.ZipInfo(name), data)
    return dst


def _json_edit(suffix, change):
    def edit(name, data):
        if not name.endswith(suffix):
            return data
        value = json.loads(data)
        change(value)
        return json.dumps(value).encode()

    return edit


def _constant(entry_name, member):
    return lambda c: c["config"].update({entry_name: {"path_name": member, "is_param": False, "use_pickle": True, "tensor_meta": None}})


def _first_node(change):
    return lambda p: change(p["graph_module"]["graph"]["nodes"][0])


def _pt2_attacks(marker):
    """(name, edit, extra members): every way found for a .pt2 to make torch.export.load run code."""
    evil = pickle.dumps(_Marker(marker))
    constants, weights, model = "model_constants_config.json", "model_weights_config.json", "models/model.json"
    return [
        # the issue's exploit: an opaque constant, loaded by pickle.loads
        ("opaque-object", _json_edit(constants, _constant("opaque_obj_0", "opaque_obj_0")), [("archive/data/constants/opaque_obj_0", evil)]),
        # a tensor constant marked use_pickle: torch.load(weights_only=False)
        ("pickled-constant", _json_edit(constants, _constant("c", "tensor_0")), [("archive/data/constants/tensor_0", evil)]),
        ("pickled-weight", _json_edit(weights, lambda c: next(iter(c["config"].values())).update(use_pickle=True)), []),
        ("custom-object", _json_edit(constants, _constant("c", "custom_obj_0")), [("archive/data/constants/custom_obj_0", evil)]),
        # Python the deserializer would exec or eval
        ("guard-code", _json_edit(model, lambda p: p.update(guards_code=[f"open({str(marker)!r}, 'w')"])), []),
        ("sympy-eval", _json_edit(model, lambda p: p["range_constraints"].update({f"__import__('os').system('touch {marker}')": {}})), []),
        ("sympy-expression", _json_edit(model, _first_node(lambda n: n["outputs"].append(
            {"as_sym_int": {"as_expr": {"expr_str": f"open({str(marker)!r}, 'w')"}}}))), []),  # fmt: skip
        ("sympy-power", _json_edit(model, _first_node(lambda n: n["outputs"].append(
            {"as_sym_int": {"as_expr": {"expr_str": "9**9**9**9"}}}))), []),  # fmt: skip  # no code, but sympy would never finish
        ("python-target", _json_edit(model, _first_node(lambda n: n.update(target="builtins.exec"))), []),
        ("legacy-constants", None, [("archive/data/constants/model.pt", evil)]),
        ("escaping-name", None, [("archive/../../evil", b"x")]),
    ]


PREFIXES = ("tensor_", "weight_", "custom_obj_", "opaque_obj_")


@pytest.mark.parametrize("config, prefix", [(c, p) for c in ("model_constants_config.json", "model_weights_config.json") for p in PREFIXES])
def test_every_payload_entry_that_asks_for_a_pickle_is_refused(exported, tmp_path, config, prefix):
    """Generated: an entry of either payload table, naming a member of every kind torch.export.load unpickles."""
    marker = tmp_path / "ran"
    folder = "constants" if "constants" in config else "weights"
    evil = _rewrite(exported, tmp_path / "e.pt2", _json_edit(config, _constant("x", f"{prefix}7")),
                    [(f"archive/data/{folder}/{prefix}7", pickle.dumps(_Marker(marker)))])  # fmt: skip
    with pytest.raises(UnsafeFileError, match="refused"):
        load_exported(evil)
    assert not marker.exists()


@pytest.mark.parametrize("attack", range(11))
def test_a_pt2_that_asks_to_run_code_is_refused_before_it_runs(exported, tmp_path, attack):
    marker = tmp_path / "ran"
    name, edit, extra = _pt2_attacks(marker)[attack]
    evil = _rewrite(exported, tmp_path / f"{name}.pt2", edit, extra)
    with pytest.raises(UnsafeFileError, match="refused"):
        load_exported(evil)
    assert not marker.exists(), f"{name}: loading ran the file's code"
    cnnzoo_cli = pytest.importorskip("cnnzoo.cli")
    assert cnnzoo_cli.main(["eval", "--checkpoint", str(evil), "--data", "digits"]) == 2
    assert not marker.exists()


def test_the_issue_exploit_is_real_without_the_check(exported, tmp_path):
    """torch.export.load itself runs the opaque constant's pickle: the check above is what stops it."""
    marker = tmp_path / "ran"
    name, edit, extra = _pt2_attacks(marker)[0]
    evil = _rewrite(exported, tmp_path / "evil.pt2", edit, extra)
    with contextlib.suppress(Exception):  # what the pickle returns is no tensor: torch fails after running it
        torch.export.load(io.BytesIO(evil.read_bytes())).module()
    assert marker.exists()


def test_what_cnnzoo_exports_passes_the_check_and_a_compressed_copy_does_not(exported, tmp_path):
    check_exported_program(exported)
    run, meta = load_exported(exported)
    assert meta["model"] == "resnet20" and run(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(UnsafeFileError, match="compressed"):
        load_exported(_rewrite(exported, tmp_path / "deflated.pt2", compress=zipfile.ZIP_DEFLATED))


# -- HDF5 ----------------------------------------------------------------------------------------------


def _keras2_file(path, make_kernel):
    """A Keras-2-layout weights file whose one weight is made by `make_kernel(group, name)`."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"conv1"]
        group = f.create_group("conv1")
        group.attrs["weight_names"] = [b"conv1/kernel:0"]
        make_kernel(group, "conv1/kernel:0")
    return path


def _hdf5_attacks(tmp_path, secret):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.ones(4, "f4")
    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource(str(other), "x", shape=(4,))
    return {
        "external storage": lambda g, n: g.create_dataset(n, shape=(16,), dtype="f4", external=[(str(secret), 0, 64)]),
        "a link to another file": lambda g, n: g.__setitem__(n, h5py.ExternalLink(str(other), "/x")),
        "soft link": lambda g, n: (g.file.__setitem__("real", np.zeros(3, "f4")), g.__setitem__(n, h5py.SoftLink("/real"))),
        "virtual dataset": lambda g, n: g.create_virtual_dataset(n, layout),
        "not numbers": lambda g, n: g.__setitem__(n, np.array([b"abc"])),
        "compression bomb": lambda g, n: g.create_dataset(n, shape=(2**28,), dtype="f4", chunks=(2**20,), compression="gzip"),
        "hard-link loop": lambda g, n: g.__setitem__(n, g.file["/"]),  # walked without a memory of where it has been: forever
    }


@pytest.mark.parametrize("kind", ["external storage", "a link to another file", "soft link", "virtual dataset", "not numbers",
                                  "compression bomb", "hard-link loop"])  # fmt: skip
def test_hdf5_weights_that_reach_outside_the_file_are_refused_before_a_read(tmp_path, kind, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_bytes(b"S" * 64)
    file = _keras2_file(tmp_path / "w.h5", _hdf5_attacks(tmp_path, secret)[kind])
    reads = []
    original = h5py.Dataset.__getitem__
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, key: reads.append(self.name) or original(self, key))
    with pytest.raises(UnsafeFileError, match="refused"):
        read_keras_weights(file)
    assert reads == [], f"{kind}: a dataset was read before the refusal"


def test_hdf5_weights_out_of_shape_are_one_line_not_a_traceback(tmp_path):
    file = _keras2_file(tmp_path / "group.h5", lambda g, n: g.create_group(n))  # a weight name naming a group
    with pytest.raises(CnnzooError, match="cannot read Keras weights"):
        read_keras_weights(file)
    with h5py.File(tmp_path / "scalar.h5", "w") as f:
        f.attrs["layer_names"] = 7  # one number, not a list of names
    with pytest.raises(CnnzooError, match="cannot read Keras weights"):
        read_keras_weights(tmp_path / "scalar.h5")


def test_a_checkpoint_holding_a_number_where_a_tensor_belongs_is_one_line(tmp_path):
    from cnnzoo.artifacts.weights import load_fitting

    model = torch.nn.Linear(2, 2)
    with pytest.raises(CnnzooError, match="weight is a int, not a tensor"):
        load_fitting(model, {"weight": 3, "bias": torch.zeros(2)}, "x.pt")


def test_a_plain_hdf5_weight_is_read(tmp_path):
    file = _keras2_file(tmp_path / "w.h5", lambda g, n: g.__setitem__(n, np.arange(6, dtype="f4").reshape(2, 3)))
    assert read_keras_weights(file)["conv1"]["kernel"].tolist() == [[0, 1, 2], [3, 4, 5]]


# -- zip containers ------------------------------------------------------------------------------------


def test_a_keras_zip_bomb_is_refused_from_its_directory(tmp_path):
    """256 MiB of zeros deflate to 256 KiB: refused by its expansion ratio, before it is decompressed."""
    file = tmp_path / "bomb.keras"
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("model.weights.h5", "w", force_zip64=True) as member:
            block = bytes(2**24)
            for _ in range(16):
                member.write(block)
    assert file.stat().st_size < 2**20
    with pytest.raises(UnsafeFileError, match="expands"):
        read_keras_weights(file)


@pytest.mark.parametrize("name", ["../model.weights.h5", "/etc/model.weights.h5", "a\\..\\b"])
def test_zip_members_with_paths_that_leave_the_archive_are_refused(tmp_path, name):
    file = tmp_path / "m.keras"
    with zipfile.ZipFile(file, "w") as z:
        z.writestr("model.weights.h5", b"x")
        z.writestr(zipfile.ZipInfo(name), b"x")
    with pytest.raises(UnsafeFileError, match="plain relative path"):
        read_keras_weights(file)


def test_a_checkpoint_with_a_compressed_member_is_refused(tmp_path):
    torch.save({"x": torch.zeros(3)}, tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt")["x"].shape == (3,)
    _rewrite(tmp_path / "c.pt", tmp_path / "d.pt", compress=zipfile.ZIP_DEFLATED)
    with pytest.raises(UnsafeFileError, match="compressed"):
        load_checkpoint(tmp_path / "d.pt")


# -- special files -------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("reader", ["keras", "pretrained", "image"])
def test_a_fifo_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / {"keras": "w.h5", "pretrained": "w.pth", "image": "x.png"}[reader]
    os.mkfifo(fifo)
    from cnnzoo.data.decoding import decode
    from cnnzoo.interop.pretrained import read_state_dict

    call = {"keras": read_keras_weights, "pretrained": read_state_dict, "image": decode}[reader]
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(_raised(call, fifo)), daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # unblock the reader so the test process can end
        with open(fifo, "wb"):
            pass
        pytest.fail(f"{reader}: opening a FIFO blocked")
    assert isinstance(outcome[0], CnnzooError) and ("FIFO" in str(outcome[0]) or "regular" in str(outcome[0])), outcome


def _raised(call, *args):
    try:
        call(*args)
    except Exception as e:
        return e
    return None


@pytest.mark.parametrize("location", ["side.bin", "../secret.bin"])
def test_an_onnx_file_that_names_other_files_is_refused_and_they_are_not_read(tmp_path, location):
    """ONNX keeps big tensors as "external data": a file beside the model that the model names. onnxruntime
    reads such a name from the model's folder (a model saved in ~ could name .ssh/id_rsa and return its
    bytes as logits); cnnzoo reads only the file it is given."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from cnnzoo.artifacts.exported import load_onnx

    (tmp_path / "m").mkdir()
    for side in (tmp_path / "m" / "side.bin", tmp_path / "secret.bin"):
        side.write_bytes(np.arange(6, dtype=np.float32).tobytes())
    weight = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[1, 6], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", "24")):
        weight.external_data.add(key=key, value=value)
    graph = helper.make_graph([helper.make_node("Add", ["images", "W"], ["logits"])], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 6])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 6])], initializer=[weight])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.save_model(model, tmp_path / "m" / "model.onnx")
    with pytest.raises(CnnzooError, match="other files it names"):
        load_onnx(tmp_path / "m" / "model.onnx")


def test_a_checkpoint_that_names_a_folder_does_not_get_it_opened(tmp_path):
    """A checkpoint's metadata names the data it trained on; evaluated without data given, cnnzoo asks for
    them rather than opening the folder on the file's say-so. Built-in data (a name, no folder) are used."""
    from cnnzoo.eval.inputs import checkpoint_data, data_to_use

    folder = tmp_path / "not-yours"
    (folder / "train" / "a").mkdir(parents=True)
    meta = {"model": "resnet20", "data": str(folder), "input_size": 32, "recipe": {}}
    with pytest.raises(CnnzooError, match=f"--data {folder}"):
        checkpoint_data(meta)
    assert data_to_use(meta | {"data": "digits"}, None) == "digits" and data_to_use(meta, "elsewhere") == "elsewhere"
