"""The engine's command-line flags name the editor's settings and are checked like them."""

import argparse

import pytest
from starchat.server.flags import add_engine_flags, engine_options


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_engine_flags(parser)
    return parser.parse_args(argv)


def test_the_cache_budget_is_the_operators_flag() -> None:
    assert engine_options(parse("--kv-cache-mb", "64")).kv_cache_mb == 64
    assert engine_options(parse()).kv_cache_mb == 1024


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (("--kv-cache-mb", "-3"), "--kv-cache-mb: "),
        (("--backend-url", "ftp://x"), "--backend-url: "),
    ],
)
def test_an_invalid_value_names_the_flag_as_typed(argv: tuple[str, ...], flag: str) -> None:
    with pytest.raises(ValueError) as error:
        engine_options(parse(*argv))
    assert str(error.value).startswith(flag)
