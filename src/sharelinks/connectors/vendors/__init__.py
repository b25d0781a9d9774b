"""One adapter per vendor, by connector type."""

from __future__ import annotations

from sharelinks.connectors.vendors.base import Vendor
from sharelinks.connectors.vendors.braze import Braze
from sharelinks.connectors.vendors.customerio import CustomerIO
from sharelinks.connectors.vendors.hubspot import HubSpot
from sharelinks.connectors.vendors.iterable import Iterable
from sharelinks.connectors.vendors.klaviyo import Klaviyo
from sharelinks.connectors.vendors.sfmc import SFMC

VENDORS: dict[str, Vendor] = {v.type: v for v in (HubSpot(), SFMC(), Klaviyo(), Iterable(), Braze(), CustomerIO())}
