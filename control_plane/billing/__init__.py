"""Billing: the signed subscription webhook, metering, invoices and their rendering.

The billing system is the source of truth for who pays for which plan. The webhook
(`app`) verifies each event (`signature`), maps it to a lifecycle intent (`events`) and
folds it into the subscription's ledger (`ledger`, stored by `store`); the reconciler
(`reconcile`, run forever by `loop`) requests from the registry what each ledger asks of
the tenant it owns (`subscriptions`). `server` serves the webhook with its request
limits. Usage read from the tenant's resources (`metering`) is rated against the plan
catalog over the tenant's lifecycle history (`history`, `invoicing`) into numbered
invoices (`invoice_book`) shown by `render`.
"""
