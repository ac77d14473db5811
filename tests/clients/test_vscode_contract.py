"""The VS Code extension and the server agree: settings ↔ options, protocol.ts ↔ protocol.py.

Both sides declare things once (package.json's settings, protocol.ts; options.py,
protocol.py); this test reads the extension's files as data, so a setting or a method renamed
on one side only fails here instead of silently doing nothing in the editor.
"""

import json
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import pytest
from starchat.server import methods
from starchat.server.options import Options, apply_settings

EXTENSION = Path(__file__).resolve().parents[2] / "clients" / "vscode"
PROPERTIES: dict[str, dict[str, Any]] = json.loads((EXTENSION / "package.json").read_text())[
    "contributes"
]["configuration"]["properties"]
CLIENT_ONLY = ("starchat.server.", "starchat.trace.", "starchat.inlineCompletion.")
"""Settings the extension itself uses (interpreter, LSP tracing, when to ask for ghost text);
the server ignores them."""

OPTION_SETTINGS = {
    name.removeprefix("starchat."): schema
    for name, schema in PROPERTIES.items()
    if not name.startswith(CLIENT_ONLY)
}
FIELDS = {info.alias or name: info for name, info in Options.model_fields.items()}


def ts_source(relative: str) -> str:
    return (EXTENSION / relative).read_text()


def ts_strings(source: str) -> dict[str, str]:
    """`export const NAME = '…';` declarations."""
    return dict(re.findall(r"export const (\w+) = '([^']*)';", source))


def ts_list(source: str, name: str) -> list[str]:
    """The items of `export const NAME = [...] as const;` (string literals or constant names)."""
    match = re.search(rf"export const {name} = \[([^\]]*)\] as const;", source)
    assert match, f"{name} is not declared as a literal list"
    return [item.strip().strip("'") for item in match.group(1).split(",") if item.strip()]


# ---- settings ↔ options ------------------------------------------------------------------


def test_every_option_is_a_setting_and_back() -> None:
    assert set(OPTION_SETTINGS) == set(FIELDS)


def test_the_extension_sends_every_option() -> None:
    keys = ts_list(ts_source("src/common/settings.ts"), "SERVER_OPTION_KEYS")
    assert sorted(keys) == sorted(FIELDS)


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_defaults_agree(key: str) -> None:
    assert OPTION_SETTINGS[key]["default"] == Options().model_dump(by_alias=True)[key]


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_types_enums_and_bounds_agree(key: str) -> None:
    schema, info = OPTION_SETTINGS[key], FIELDS[key]
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        assert schema["type"] == "string"
        assert schema["enum"] == list(get_args(annotation))
        assert len(schema["enumDescriptions"]) == len(schema["enum"])
    else:
        json_types: dict[object, str] = {
            str: "string",
            int: "integer",
            float: "number",
            bool: "boolean",
            list[str]: "array",
        }
        assert schema["type"] == json_types[annotation]
    bounds = {
        "minimum": next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None),
        "maximum": next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None),
    }
    for bound, value in bounds.items():
        assert schema.get(bound) == value, f"starchat.{key} {bound}"


@pytest.mark.parametrize(
    "device", ["auto", "cpu", "mps", "cuda", "cuda:0", "cuda:12", "gpu", "cuda:", "CUDA", " cpu"]
)
def test_device_pattern_matches_what_the_server_accepts(device: str) -> None:
    pattern = OPTION_SETTINGS["device"]["pattern"]
    accepted = not apply_settings(Options(), {"device": device}).errors
    assert (re.fullmatch(pattern, device) is not None) == accepted


def test_every_setting_is_scoped_and_described() -> None:
    for name, schema in PROPERTIES.items():
        assert schema.get("scope"), name
        assert schema.get("description") or schema.get("markdownDescription"), name


def test_defaults_pass_the_server_validation_as_the_extension_sends_them() -> None:
    sent = {key: schema["default"] for key, schema in OPTION_SETTINGS.items()}
    update = apply_settings(Options(), sent)
    assert update.errors == [] and update.ignored == []
    client_only = {name.removeprefix("starchat."): s["default"] for name, s in PROPERTIES.items()}
    assert apply_settings(Options(), {"starchat": client_only}).errors == []


# ---- protocol.ts ↔ protocol.py -------------------------------------------------------------

PROTOCOL_TS = ts_source("src/common/protocol.ts")
TS_NAMES = ts_strings(PROTOCOL_TS)


@pytest.mark.parametrize(
    "name", ["CHAT", "CONVERSATION_DELETE", "STATUS", "CONTEXT_TRIMMED", "CLIENT_CAPABILITY"]
)
def test_method_names_agree(name: str) -> None:
    assert TS_NAMES[name] == getattr(methods, name)


@pytest.mark.parametrize("group", ["REQUESTS", "NOTIFICATIONS"])
def test_method_lists_agree(group: str) -> None:
    assert {TS_NAMES[n] for n in ts_list(PROTOCOL_TS, group)} == set(getattr(methods, group))


def test_commands_agree() -> None:
    actions = ts_list(PROTOCOL_TS, "ACTIONS")
    assert "`starchat.${action}`" in PROTOCOL_TS
    assert tuple(f"starchat.{a}" for a in actions) == methods.COMMANDS
