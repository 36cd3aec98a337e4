"""Matching cascade: pairs records of the two sides that are not yet in the id map."""

from ledgerbridge.matching.fuzzy import Candidate, find_duplicates, suggest_matches

__all__ = ["Candidate", "find_duplicates", "suggest_matches"]
