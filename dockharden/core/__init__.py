"""The pure stages: layers, selection, merge, engine gating, derivation, conflicts, ownership, values,
schema checks, the comparison of desired and effective settings, and the plan.

May touch nothing: no file, process, socket or clock. Tested with plain values.
"""
