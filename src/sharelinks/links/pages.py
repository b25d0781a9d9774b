"""The one page the link server renders itself: a small, self-contained 404."""

from __future__ import annotations

NOT_FOUND = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Link not found</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;
background:#f6f7f9;color:#1f2430}main{max-width:28rem;padding:2rem;text-align:center}
h1{font-size:1.4rem;margin:0 0 .5rem}p{margin:0;color:#5b6272}</style></head>
<body><main><h1>This link is not available</h1>
<p>It may have been mistyped or removed. Ask the person who shared it for a new one.</p></main></body></html>
"""
