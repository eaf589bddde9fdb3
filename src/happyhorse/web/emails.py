"""Emails as the users table stores them, and the one rule every way in (sign-up, sign-in, the CLI) applies.

An email is NFKC-normalised (full-width ``ｅ`` is ``e``), trimmed and
lower-cased. Then, so that two addresses that look alike are the same
address or are refused:

- no invisible, direction-changing or control characters anywhere
  (U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE, NUL...);
- the part before the ``@`` is ASCII (letters, digits and ``.!#$%&'*+/=?^_`{|}~-``);
- the domain is ASCII or an internationalised name IDNA 2008 accepts, stored
  in its ASCII (punycode, ``xn--``) form, and none of its labels mixes
  scripts (Latin with Cyrillic or Greek...), the classic homoglyph trick.

Deliverability is not checked: there is no email verification.
"""

from __future__ import annotations

import re
import unicodedata

import idna

from happyhorse.errors import InvalidRequest

MAX_EMAIL_CHARS = 320
MAX_LOCAL_PART_CHARS = 64
_LOCAL_PART = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+")
# What older versions stored (trimmed, lower-cased, no control characters): still found at sign-in.
_LEGACY_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
# Scripts that may share one label (UTS #39 "highly restrictive"): Latin with the CJK ones only.
_SCRIPT_MIXES_ALLOWED = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def _refused(message: str) -> InvalidRequest:
    return InvalidRequest("invalid_email", message, "email")


def normalize_email(email: str) -> str:
    """The email as stored, or 400 ``invalid_email`` (param ``email``) saying what to change."""
    cleaned = unicodedata.normalize("NFKC", email[: MAX_EMAIL_CHARS * 2]).strip().lower()  # no work on huge input
    local, _, domain = cleaned.partition("@")
    if cleaned.count("@") != 1 or not local or not domain or len(email.strip()) > MAX_EMAIL_CHARS * 2:
        raise _refused("enter an email address such as you@example.com")
    _refuse_hidden_characters(cleaned)
    if len(cleaned) > MAX_EMAIL_CHARS:
        raise _refused(f"use an email address of at most {MAX_EMAIL_CHARS} characters")
    _check_local_part(local)
    return f"{local}@{_ascii_domain(domain)}"


def email_lookup_forms(email: str) -> tuple[str, ...]:
    """The spellings a user with this email may be stored under, today's normal form first, then
    what older versions stored (trimmed, lower-cased: as typed, or with the domain in Unicode),
    so users made before these rules still sign in. Empty when none is a possible email."""
    try:
        strict = normalize_email(email)
    except InvalidRequest:
        strict = None
    local, _, domain = (strict or "").partition("@")
    candidates = [strict, email.strip().lower(), f"{local}@{idna.decode(domain)}" if "xn--" in domain else None]
    forms = [form for form in candidates if form is not None and (form == strict or _is_legacy_form(form))]
    return tuple(dict.fromkeys(forms))  # in order, without repeats


def _is_legacy_form(form: str) -> bool:
    return (len(form) <= MAX_EMAIL_CHARS and _LEGACY_EMAIL.fullmatch(form) is not None
            and _is_valid_unicode(form))


def email_throttle_key(email: str) -> bytes:
    """The name failed sign-ins for ``email`` are counted under: spellings of one email share it."""
    forms = email_lookup_forms(email)
    key = forms[0] if forms else email.strip().lower()
    return key.encode("utf-8", "surrogatepass")


def _refuse_hidden_characters(text: str) -> None:
    for char in text:
        # Cc control, Cf format (bidi overrides, zero-width), Cs lone surrogates, Co/Cn private and
        # unassigned, Z* spaces and separators: none belongs in an email and several hide what it says.
        category = unicodedata.category(char)
        if category == "Zs":
            raise _refused(f"remove the space (U+{ord(char):04X}) from the email")
        if category[0] in "CZ":
            raise _refused(f"remove the invisible, control or direction-changing character U+{ord(char):04X} "
                           "from the email")


def _check_local_part(local: str) -> None:
    if not local.isascii():
        odd = next(char for char in local if not char.isascii())
        raise _refused(f"the part before the @ must be ASCII: letters, digits and . _ + - and similar "
                       f"({odd!r} is not)")
    if len(local) > MAX_LOCAL_PART_CHARS or not _LOCAL_PART.fullmatch(local):
        raise _refused("the part before the @ may use letters, digits and .!#$%&'*+/=?^_`{|}~- "
                       f"(at most {MAX_LOCAL_PART_CHARS} characters)")


def _ascii_domain(domain: str) -> str:
    """The domain in ASCII (IDNA 2008, punycode labels), refusing labels that mix scripts."""
    try:
        encoded = idna.encode(domain, uts46=False).decode("ascii")
        for label in encoded.split("."):
            _check_one_script(idna.decode(label) if label.startswith("xn--") else label)
    except UnicodeError as error:  # idna.IDNAError is one
        raise _refused(f"the domain {domain!r} is not a valid domain name ({error}); "
                       "use the domain as you would type it in a browser") from None
    return encoded


def _check_one_script(label: str) -> None:
    scripts = {_script(char) for char in label if char.isalpha()}
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_MIXES_ALLOWED):
        names = " and ".join(sorted(script.title() for script in scripts))
        raise _refused(f"the domain label {label!r} mixes {names} letters, which look alike; "
                       "type the domain in one script")


def _script(char: str) -> str:
    # The first word of a letter's Unicode name is its script for every script that matters here
    # ("LATIN SMALL LETTER A", "CYRILLIC SMALL LETTER A", "CJK UNIFIED IDEOGRAPH-4F8B").
    first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return "HAN" if first == "CJK" else first


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
