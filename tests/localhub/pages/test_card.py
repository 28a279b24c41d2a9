"""Tests of localhub/pages/card.py: a README as the dataset page shows it."""

from __future__ import annotations

import pytest

from localhub.pages.card import read_card

CARD = """---
license: cc-by-4.0
language:
- en
- fr
task_categories:
- translation
- text-generation
size_categories:
- 10K<n<100K
tags:
- parallel-corpus
pretty_name: Pairs
---
# Pairs

English–French pairs
from course notes, with `ids`.

| split | rows |
|---|---:|
| train | 8 |

```bibtex
@misc{pairs, title = {Pairs}}
```
"""


def test_the_yaml_header_gives_the_facts_the_hub_shows():
    card = read_card(CARD, ["parquet"])
    assert {fact.label: fact.values for fact in card.facts} == {
        "Tasks": ["Translation", "Text generation"],
        "Formats": ["parquet"],
        "Languages": ["en", "fr"],
        "Size": ["10K - 100K"],
        "Tags": ["parallel-corpus"],
        "License": ["cc-by-4.0"],
    }
    assert (card.pretty_name, card.license) == ("Pairs", "cc-by-4.0")


@pytest.mark.parametrize(
    ("category", "shown"), [("n<1K", "< 1K"), ("1K<n<10K", "1K - 10K"), ("n>1T", "> 1T"), ("other", "other")]
)
def test_size_categories_read_as_on_the_hub(category, shown):
    (fact,) = read_card(f"---\nsize_categories:\n- {category}\n---\n", []).facts
    assert fact.values == [shown]


def test_the_markdown_is_rendered_with_tables_aligned_by_class():
    html = read_card(CARD, []).html
    assert "<h1>Pairs</h1>" in html
    assert '<th class="align-right">rows</th>' in html and "style=" not in html
    assert "<code>ids</code>" in html


def test_the_citation_and_the_summary_come_from_the_body():
    card = read_card(CARD, [])
    assert card.citation == "@misc{pairs, title = {Pairs}}"
    assert card.summary == "English–French pairs from course notes, with ids."


@pytest.mark.parametrize(
    ("markdown", "unwanted"),
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src=x onerror="alert(1)">', "<img"),
        ("[link](javascript:alert(1))", 'href="javascript'),
        ('<a href="https://example.org" onclick="alert(1)">x</a>', "<a "),
    ],
)
def test_raw_html_and_script_links_in_a_card_stay_text(markdown, unwanted):
    html = read_card(f"# Title\n\n{markdown}\n", []).html
    assert unwanted not in html


def test_a_repo_without_a_card_or_with_broken_yaml_has_no_facts():
    assert read_card(None, ["parquet"]).facts == []
    broken = read_card("---\nlicense: [unclosed\n---\n# Still a card\n", ["parquet"])
    assert broken.metadata == {} and "<h1>Still a card</h1>" in broken.html
