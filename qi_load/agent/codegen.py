"""Code-generation answers: a Python function for the request, in a fenced block that compiles."""

from __future__ import annotations

from typing import Final

__all__ = ["TEMPLATES", "code_answer", "pick_template"]

# (keywords, explanation, code): the first template whose keyword occurs in the request wins.
TEMPLATES: Final[tuple[tuple[tuple[str, ...], str, str], ...]] = (
    (
        ("binary search",),
        "Binary search halves the search range each step, so it runs in O(log n).",
        '''def binary_search(items: list[int], target: int) -> int:
    """Index of target in the sorted list items, or -1 if absent."""
    low, high = 0, len(items) - 1
    while low <= high:
        middle = (low + high) // 2
        if items[middle] == target:
            return middle
        if items[middle] < target:
            low = middle + 1
        else:
            high = middle - 1
    return -1''',
    ),
    (
        ("sort",),
        "It is a merge sort: stable, O(n log n), and it leaves the input list unchanged.",
        '''def sort_list(items: list[float]) -> list[float]:
    """Return a new list with the items in ascending order (merge sort)."""
    if len(items) <= 1:
        return list(items)
    middle = len(items) // 2
    left, right = sort_list(items[:middle]), sort_list(items[middle:])
    merged: list[float] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged + left[i:] + right[j:]''',
    ),
    (
        ("fibonacci",),
        "It iterates instead of recursing, so it runs in O(n) time and O(1) memory.",
        '''def fibonacci(n: int) -> int:
    """The n-th Fibonacci number (fibonacci(0) == 0, fibonacci(1) == 1)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a''',
    ),
    (
        ("factorial",),
        "It multiplies iteratively, which avoids Python's recursion limit.",
        '''def factorial(n: int) -> int:
    """n! for n >= 0."""
    if n < 0:
        raise ValueError("n must be >= 0")
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result''',
    ),
    (
        ("prime",),
        "Trial division up to the square root is enough for moderate numbers.",
        '''def is_prime(n: int) -> bool:
    """True if n is a prime number."""
    if n < 2:
        return False
    k = 2
    while k * k <= n:
        if n % k == 0:
            return False
        k += 1
    return True''',
    ),
    (
        ("palindrome",),
        "It ignores case and anything that is not a letter or a digit.",
        '''def is_palindrome(text: str) -> bool:
    """True if text reads the same backwards, ignoring case and punctuation."""
    letters = [c.lower() for c in text if c.isalnum()]
    return letters == letters[::-1]''',
    ),
    (
        ("reverse",),
        "Slicing with a step of -1 builds the reversed copy in one pass.",
        '''def reverse_string(text: str) -> str:
    """Return text reversed."""
    return text[::-1]''',
    ),
    (
        ("word", "count"),
        "collections.Counter does the counting; words are lower-cased first.",
        '''from collections import Counter


def word_frequencies(text: str) -> dict[str, int]:
    """How often each word occurs in text, ignoring case."""
    return dict(Counter(word.lower() for word in text.split()))''',
    ),
    (
        ("average", "mean"),
        "It refuses an empty list instead of dividing by zero.",
        '''def average(values: list[float]) -> float:
    """Arithmetic mean of values."""
    if not values:
        raise ValueError("average of an empty list")
    return sum(values) / len(values)''',
    ),
)

_GENERIC: Final = (
    "It validates its input and returns a new value without side effects.",
    '''def process(items: list[str]) -> list[str]:
    """Strip, drop empty entries and de-duplicate items, keeping their first order."""
    seen: set[str] = set()
    result: list[str] = []
    for item in items:
        value = item.strip()
        if value and value not in seen:
            seen.add(value)
            result.append(value)
    return result''',
)


def pick_template(request: str) -> tuple[str, str]:
    """(explanation, code) of the template matching the request."""
    lowered = request.lower()
    for keywords, explanation, code in TEMPLATES:
        if any(keyword in lowered for keyword in keywords):
            return explanation, code
    return _GENERIC


def code_answer(request: str, *, wrong: bool = False) -> str:
    """The answer text; `wrong` drops the colon of the `def` line so the code cannot compile."""
    explanation, code = pick_template(request)
    if wrong:
        code = code.replace(":\n", "\n", 1)
    return f"Here is a Python function for that:\n\n```python\n{code}\n```\n\n{explanation}"
