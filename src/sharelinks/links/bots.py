"""Crawlers and link-preview fetchers, by User-Agent: their clicks are stored flagged and not counted.

A short list of the fetchers that unfurl links in chat and social apps, search crawlers, and the
generic words they share; an empty User-Agent counts as a bot too.
"""

from __future__ import annotations

import re
from functools import lru_cache

BOT_RE = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|facebookcatalog|meta-externalagent|"
    r"whatsapp|telegram|slack|discord|skypeuripreview|linkedin|pinterest|redditbot|embedly|iframely|"
    r"vkshare|w3c_validator|google-inspectiontool|googleother|apis-google|mediapartners|adsbot|"
    r"bingpreview|yandex|baiduspider|duckduckbot|applebot|petalbot|semrush|ahrefs|mj12bot|dotbot|"
    r"headlesschrome|phantomjs|python-requests|python-urllib|aiohttp|httpx|go-http-client|curl/|wget/|"
    r"okhttp|java/|libwww|scrapy|outlook-link-preview|microsoft office|ms-office|proofpoint|mimecast|"
    r"barracuda|safelinks",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)  # a few thousand User-Agents make nearly all traffic; the regex is the cost
def is_bot(user_agent: str | None) -> bool:
    return not user_agent or BOT_RE.search(user_agent) is not None
