"""Small pure functions, deliberately simple so that there is something to make faster."""


def is_prime(n: int) -> bool:
    """Whether n is prime, by trial division."""
    if n < 2:
        return False
    return all(n % divisor != 0 for divisor in range(2, n))


def count_primes(n: int) -> int:
    """How many primes are below n."""
    return sum(1 for candidate in range(n) if is_prime(candidate))


def fibonacci(n: int) -> int:
    """The n-th Fibonacci number (fibonacci(0) == 0)."""
    previous, current = 0, 1
    for _ in range(n):
        previous, current = current, previous + current
    return previous
