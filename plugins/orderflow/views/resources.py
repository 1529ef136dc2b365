"""Names of the permissions the staff pages check (FAB resources). No imports: the plugin entry
point, the roles setup command and the pages all read them."""

from __future__ import annotations

PACKING_STATION = "Packing Station"
# Separate from the station itself: packing an order with a unit not scanned is a supervisor's call.
PACKING_OVERRIDE = "Packing Override"
CUSTOMER_SERVICE = "Customer Service"

# Methods passed to is_authorized_custom_view; the FAB auth manager maps them to its actions.
READ = "GET"    # can_read
WRITE = "PUT"   # can_edit
