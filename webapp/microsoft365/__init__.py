"""Verified by Microsoft 365: a customer's global admin consents to the provider's Entra app, the portal
proves the tenant by reading its organization with an app token, keeps a dated snapshot of the tenant's
subscriptions from Microsoft Graph, and compares each license with them (docs/domain.md, "Verified by
Microsoft 365"). Microsoft's figures are a second check beside the uploaded proof, never a replacement:
Graph has no term, so "yearly" stays the document's to prove.
"""
