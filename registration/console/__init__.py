"""The front-desk console's patient pages (forms, views, display helpers) behind PatientAdmin."""
