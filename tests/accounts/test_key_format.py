"""Key shape: prefix, ≥ 128 random bits, a checksum that catches typos before any lookup."""

from __future__ import annotations

import math

from happyhorse.accounts.key_format import BODY_ALPHABET, BODY_CHARS, KEY_LENGTH, KEY_PREFIX, is_well_formed, new_key
from happyhorse.web.sessions import session_api_key


def test_new_keys_have_the_prefix_enough_entropy_and_a_valid_checksum() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    assert BODY_CHARS * math.log2(len(BODY_ALPHABET)) >= 128
    for key in keys:
        assert key.startswith(KEY_PREFIX) and len(key) == KEY_LENGTH
        assert is_well_formed(key)


def test_every_one_character_typo_is_caught() -> None:
    key = new_key()
    for position in range(len(KEY_PREFIX), len(key)):
        for replacement in "aZ9-_":
            if key[position] != replacement:
                typo = key[:position] + replacement + key[position + 1:]
                assert not is_well_formed(typo), (position, replacement)


def test_truncated_extended_and_swapped_keys_are_refused() -> None:
    key = new_key()
    assert not is_well_formed(key[:-1])
    assert not is_well_formed(key + "a")
    assert not is_well_formed("hh_test_" + key[len(KEY_PREFIX):])
    assert not is_well_formed("hh_live_nope")
    assert not is_well_formed("")


def test_session_keys_have_the_same_shape() -> None:
    assert is_well_formed(session_api_key(b"secret", "a-cookie-token"))
