"""Checksums and number-range rules that tell a real identifier from a look-alike run of digits."""
from __future__ import annotations

import ipaddress

# IBAN length per country (SWIFT IBAN registry, release 2024); a code not listed is no IBAN.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Issuer prefixes (IIN ranges, ISO/IEC 7812 as the networks publish them) and the lengths each
# network issues; a Luhn-valid number outside these is far more often an order or tracking number.
_CARD_RANGES: list[tuple[int, int, tuple[int, ...]]] = [
    (4, 4, (13, 16, 19)),  # Visa
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)), (37, 37, (15,)),  # American Express
    (300, 305, (14, 15, 16, 17, 18, 19)), (3095, 3095, (14, 16)), (36, 36, (14, 15, 16, 17, 18, 19)),
    (38, 39, (14, 15, 16, 17, 18, 19)),  # Diners Club
    # JCB issues 3528-3589; the rest of 35 is unassigned, and test generators (Faker, Presidio's
    # synthetic data) issue there: a Luhn-valid 16-19 digit "35..." number is redacted all the same
    (3500, 3599, (16, 17, 18, 19)),  # JCB
    (1800, 1800, (15,)), (2131, 2131, (15,)),  # JCB (old 15-digit ranges)
    (6011, 6011, (16, 17, 18, 19)), (644, 649, (16, 17, 18, 19)), (65, 65, (16, 17, 18, 19)),  # Discover
    (62, 62, (16, 17, 18, 19)),  # UnionPay
    (2200, 2204, (16, 17, 18, 19)),  # Mir
    (50, 50, tuple(range(12, 20))), (56, 69, tuple(range(12, 20))),  # Maestro (12-19 digits)
    (8600, 8600, (16,)), (9792, 9792, (16,)),  # Uzcard, Troy
]


def card_ok(digits: str) -> bool:
    n = len(digits)
    if not 12 <= n <= 19 or not luhn_ok(digits):
        return False
    for lo, hi, lengths in _CARD_RANGES:
        k = len(str(lo))
        if lo <= int(digits[:k]) <= hi and n in lengths:
            return True
    return False


def iban_ok(iban: str) -> bool:
    """`iban`: upper-case, no spaces. Length for its country and the ISO 13616 mod-97 check."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


# Numbers the SSA published or that were widely misused as examples (never a person's SSN).
_SSN_NOT_ISSUED = {"078051120", "219099999", "123456789"}


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """SSA rules since 2011 (randomisation): area 001-899 except 666, group 01-99, serial 0001-9999."""
    a = int(area)
    return (
        0 < a < 900 and a != 666 and group != "00" and serial != "0000"
        and area + group + serial not in _SSN_NOT_ISSUED
    )


def ip_ok(address: str, public_only: bool) -> bool:
    """A parseable address; with `public_only`, only globally routable ones (private, loopback,
    documentation and link-local addresses identify no one, as datatrove's PIIFormatter holds)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global if public_only else not ip.is_unspecified
