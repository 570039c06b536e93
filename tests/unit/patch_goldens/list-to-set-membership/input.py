"""Counts the words that are not stop words."""


def count_content_words(words: list[str]) -> int:
    count = 0
    for word in words:
        # Stop words carry no content.
        if word.lower() not in ["a", "an", "the", "of", "and"]:
            count += 1
    return count
