"""The membership model, as a Django project declares it.

unique_together is what the project's migration turns into the database's
UNIQUE (user_id, tenant_id); the table itself is the scenario's (managed =
False), so the scenario's migration decides whether the constraint exists.
"""
from django.db import models


class Membership(models.Model):
    id = models.BigAutoField(primary_key=True)
    user_id = models.BigIntegerField()
    tenant_id = models.BigIntegerField()
    role = models.TextField(default="member")

    class Meta:
        app_label = "members"
        db_table = "user_tenant_membership"
        managed = False
        unique_together = [("user_id", "tenant_id")]
