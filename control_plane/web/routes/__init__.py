"""One router per domain; `control_plane.web.app` only wires them."""
