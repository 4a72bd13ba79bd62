"""Every command in a core-only install: a command that needs an extra says which, with the pip
command, exit 2, before it starts and with no traceback (issue 26). The extras are hidden from
one subprocess by an import blocker, so the test runs beside a full install."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BLOCKED = ("torch", "torchvision", "sklearn", "matplotlib", "safetensors", "fastapi", "uvicorn", "ray", "pyarrow",
           "diffusers", "transformers", "peft")

COMMANDS = {
    "train": (["train", "--data", "x"], "train"),
    "evaluate": (["evaluate", "runs/x"], "train"),
    "predict": (["predict", "runs/x", "a.png"], "train"),
    "train-demo": (["train-demo"], "train"),
    "export": (["export", "runs/x", "--out", "d"], "train"),
    "build-detector": (["build-detector", "--data", "x", "--out", "d"], "train"),
    "build-attribution": (["build-attribution", "--model", "d", "--data", "x"], "train"),
    "explain": (["explain", "default", "a.png"], "train"),
    "crossval": (["crossval", "--data", "x"], "train"),
    "make-edited": (["make-edited", "--data", "x", "--out", "d"], "train"),
    "report": (["report", "runs/x"], "train"),
    "models": (["models"], "train"),
    "generate": (["generate", "--model", "m", "--out", "d"], "train"),
    "caption": (["caption", "x", "--model", "m", "--out", "c.csv"], "train"),
    "pair": (["pair", "x", "--captioner", "c", "--generator", "g", "--out", "d"], "train"),
    "serve": (["serve"], "serve"),
    "check --explain": (["check", "{sample}", "--explain", "d"], "train"),
    "check --engine ray": (["check", "{sample}", "--engine", "ray"], "scale"),
    "check --out parquet": (["check", "{sample}", "--out", "r.parquet"], "scale"),
}

SCRIPT = textwrap.dedent('''
    import contextlib, io, json, sys
    from importlib import resources
    BLOCKED = set(sys.argv[1].split(","))

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    for m in list(sys.modules):
        if m.split(".")[0] in BLOCKED:
            del sys.modules[m]
    from artcheck.cli import main
    sample = str(resources.files("artcheck") / "assets" / "samples" / "human-photo-cat.jpg")
    out = {}
    for name, args in json.loads(sys.argv[2]).items():
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main([a.replace("{sample}", sample) for a in args])
            except BaseException as e:
                code = repr(e)
        out[name] = [code, err.getvalue()]
    print(json.dumps(out))
''')


def test_every_command_that_needs_an_extra_says_so_in_a_core_only_install(tmp_path):
    args = {k: v[0] for k, v in COMMANDS.items()}
    res = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(BLOCKED), json.dumps(args)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env={"ARTCHECK_OFFLINE": "1",
                                                                          "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                                          "COLUMNS": "300"})
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    for name, (_, extra) in COMMANDS.items():
        code, err = got[name]
        assert code == 2, f"{name}: exit {code}: {err}"
        assert f"pip install 'artcheck[{extra}]'" in err and "Traceback" not in err, f"{name}: {err}"
