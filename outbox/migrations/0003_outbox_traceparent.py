"""Outbox rows carry the W3C trace context of the work that wrote them (a column the relay
publishes as the CloudEvent's `traceparent`; a database default keeps older writers working)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("outbox", "0002_security")]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="traceparent",
            field=models.CharField(blank=True, db_default="", default="", max_length=55),
        ),
    ]
