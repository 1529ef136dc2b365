"""Names of the permissions the staff pages check (FAB resources). No imports but typing: the plugin
entry point, the roles setup command and the pages all read them."""

from __future__ import annotations

from typing import Final

PACKING_STATION = "Packing Station"
# Separate from the station itself: packing an order with a unit not scanned is a supervisor's call.
PACKING_OVERRIDE = "Packing Override"
CUSTOMER_SERVICE = "Customer Service"
# After the sale (issue 13): each money-moving page has its own permission.
SELLER_CANCELATION = "Seller Cancelation"  # cancel lines before shipping (Packer, Agent)
REFUNDS = "Refunds"  # refund shipped lines (Agent, Receiver for mail-in returns)
RETURNS = "Returns"  # the Returns page (Receiver)
# The "Close the day" page: transmitting the day's Canada Post groups and printing manifests.
END_OF_DAY = "End of Day"

# Methods passed to is_authorized_custom_view; the FAB auth manager maps them to its actions.
READ: Final = "GET"    # can_read
WRITE: Final = "PUT"   # can_edit
