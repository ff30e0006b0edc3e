"""Masking of personal data (个人信息) for display and for anything handed outside."""

from __future__ import annotations


def _mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[len(value) - keep_end :]


def mask_id_number(value: str) -> str:
    """Show only the region prefix and the last four characters of an ID number."""
    return _mask_middle(value.strip(), 3, 4)


def mask_phone(value: str) -> str:
    """Show the first three and the last four digits of a phone number."""
    return _mask_middle(value.strip(), 3, 4)


def mask_address(value: str) -> str:
    """Keep the first six characters (province/city) of an address, hide the rest."""
    value = value.strip()
    return value[:6] + "****" if len(value) > 6 else "****"


def mask_bank_account(value: str) -> str:
    """Show only the last four digits of a bank account."""
    return _mask_middle(value.strip(), 0, 4)
