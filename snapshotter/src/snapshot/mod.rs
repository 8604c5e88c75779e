//! Snapshots: unpacked layers keyed by diff_id, overlay and copying drivers.
