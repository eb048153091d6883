"""Partner lead feeds: casebus.lead -> casebus.feed.<platform>.leads, redacted, exactly once.

visibility.py decides who may see a lead, casebus/contracts/partner.py what of it they see,
route.py what one lead event changes in each feed (the revision rule of
casebus/revisions.py, then who gains or loses it), state.py what each platform holds
(restored from a compacted changelog at start), service.py the transactional loop and
view.py what a platform currently sees.
"""
