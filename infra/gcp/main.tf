# GCP side of the merchandising flow: ERP changes on Pub/Sub pushed (OIDC) to merch-normalizer,
# the audit bucket written by audit-sink, and a BigQuery external table over it.
terraform {
  required_providers {
    google = { source = "hashicorp/google", version = "~> 6.0" }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

variable "project" { type = string }
variable "region" {
  type    = string
  default = "europe-west1"
}
variable "merch_normalizer_image" { type = string }
variable "audit_sink_image" { type = string }
variable "kafka_bootstrap_servers" {
  type        = string
  description = "MSK / Confluent bootstrap servers reachable from Cloud Run"
}

locals {
  # Custom audiences: the push token's `aud`, checked by the functions (PUSH_AUDIENCE).
  normalizer_audience = "merch-normalizer"
  audit_audience      = "audit-sink"
  # The same list as domain::events::topics::MIRRORED (tests/tests/infra.rs compares them).
  mirrored_topics = ["merch.price-changed", "merch.inventory-changed", "merch.dlq", "order.paid", "checkout.dlq", "product-images.processed"]
}

data "google_project" "current" {}

locals {
  # Pub/Sub itself moves a message to the dead-letter topic, as this per-project service agent: it
  # needs to publish to the dead-letter topic and to subscribe to (acknowledge on) the source
  # subscription, or nothing is ever dead-lettered and the message is redelivered indefinitely.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.current.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_service_account" "pusher" {
  account_id   = "pubsub-pusher"
  display_name = "Pub/Sub push identity for the estate's Cloud Run functions"
}

resource "google_service_account" "runtime" {
  account_id   = "estate-functions"
  display_name = "Runtime identity of the estate's Cloud Run functions"
}

resource "google_pubsub_topic" "erp_changes" {
  name = "erp-changes"
}

resource "google_pubsub_topic" "erp_changes_undeliverable" {
  name = "erp-changes-undeliverable"
}

resource "google_cloud_run_v2_service" "merch_normalizer" {
  name             = "merch-normalizer"
  location         = var.region
  ingress          = "INGRESS_TRAFFIC_ALL"
  custom_audiences = [local.normalizer_audience]
  template {
    service_account = google_service_account.runtime.email
    containers {
      image = var.merch_normalizer_image
      env {
        name  = "KAFKA_BOOTSTRAP_SERVERS"
        value = var.kafka_bootstrap_servers
      }
      env {
        name  = "PUSH_AUDIENCE"
        value = local.normalizer_audience
      }
      env {
        name  = "PUSH_SERVICE_ACCOUNT"
        value = google_service_account.pusher.email
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "normalizer_invoker" {
  name     = google_cloud_run_v2_service.merch_normalizer.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pusher.email}"
}

resource "google_pubsub_subscription" "erp_changes_push" {
  name                 = "erp-changes-merch-normalizer"
  topic                = google_pubsub_topic.erp_changes.id
  ack_deadline_seconds = 30
  push_config {
    push_endpoint = google_cloud_run_v2_service.merch_normalizer.uri
    oidc_token {
      service_account_email = google_service_account.pusher.email
      audience              = local.normalizer_audience
    }
  }
  retry_policy {
    minimum_backoff = "5s"
    maximum_backoff = "300s"
  }
  # A message the function never acknowledges (Kafka down for long) is kept, not dropped.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.erp_changes_undeliverable.id
    max_delivery_attempts = 20
  }
}

# A message published to a topic without subscriptions is lost, so each dead-letter topic has a
# pull subscription that keeps its messages for inspection and replay: the longest retention
# Pub/Sub allows, and no expiry, since nothing pulls from it in normal operation.
resource "google_pubsub_subscription" "erp_changes_undeliverable" {
  name                       = "erp-changes-undeliverable-inspect"
  topic                      = google_pubsub_topic.erp_changes_undeliverable.id
  ack_deadline_seconds       = 60
  message_retention_duration = "2678400s"
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "erp_changes_undeliverable_publisher" {
  topic  = google_pubsub_topic.erp_changes_undeliverable.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "erp_changes_push_dead_letter_subscriber" {
  subscription = google_pubsub_subscription.erp_changes_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_storage_bucket" "audit" {
  name                        = "${var.project}-estate-audit"
  location                    = "EU"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Audit objects are immutable: the function writes create-only, the bucket keeps them a year.
  retention_policy {
    retention_period = 31536000
  }
}

resource "google_storage_bucket_iam_member" "audit_writer" {
  bucket = google_storage_bucket.audit.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_storage_bucket_iam_member" "audit_reader" {
  bucket = google_storage_bucket.audit.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_cloud_run_v2_service" "audit_sink" {
  name             = "audit-sink"
  location         = var.region
  custom_audiences = [local.audit_audience]
  template {
    service_account = google_service_account.runtime.email
    containers {
      image = var.audit_sink_image
      env {
        name  = "AUDIT_BUCKET"
        value = google_storage_bucket.audit.name
      }
      env {
        name  = "PUSH_AUDIENCE"
        value = local.audit_audience
      }
      env {
        name  = "PUSH_SERVICE_ACCOUNT"
        value = google_service_account.pusher.email
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "audit_invoker" {
  name     = google_cloud_run_v2_service.audit_sink.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pusher.email}"
}

# kafka-pubsub-bridge (a Lambda on the Kafka side) mirrors each Kafka topic to a Pub/Sub topic of
# the same name (dots become dashes), with the kafka_* attributes audit-sink reads.
resource "google_pubsub_topic" "mirror" {
  for_each = toset(local.mirrored_topics)
  name     = "mirror-${replace(each.value, ".", "-")}"
}

# Where audit-sink's undeliverable pushes go, one per mirrored topic like the subscriptions.
resource "google_pubsub_topic" "mirror_audit_undeliverable" {
  for_each = google_pubsub_topic.mirror
  name     = "${each.value.name}-audit-undeliverable"
}

resource "google_pubsub_subscription" "mirror_audit" {
  for_each             = google_pubsub_topic.mirror
  name                 = "${each.value.name}-audit-sink"
  topic                = each.value.id
  ack_deadline_seconds = 30
  push_config {
    push_endpoint = google_cloud_run_v2_service.audit_sink.uri
    oidc_token {
      service_account_email = google_service_account.pusher.email
      audience              = local.audit_audience
    }
  }
  retry_policy {
    minimum_backoff = "5s"
    maximum_backoff = "300s"
  }
  # As for erp-changes: a push audit-sink never acknowledges (GCS unavailable for long: 503, or a
  # body that is not a Pub/Sub push: 400) is set aside after the last attempt, not retried forever.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.mirror_audit_undeliverable[each.key].id
    max_delivery_attempts = 20
  }
}

resource "google_pubsub_subscription" "mirror_audit_undeliverable" {
  for_each                   = google_pubsub_topic.mirror_audit_undeliverable
  name                       = "${each.value.name}-inspect"
  topic                      = each.value.id
  ack_deadline_seconds       = 60
  message_retention_duration = "2678400s"
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "mirror_audit_undeliverable_publisher" {
  for_each = google_pubsub_topic.mirror_audit_undeliverable
  topic    = each.value.name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "mirror_audit_dead_letter_subscriber" {
  for_each     = google_pubsub_subscription.mirror_audit
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The terminal topic of dead letters (domain::events::topics::PARKED): a Cloud Run function parks
# here the dead letter of a message mirrored from a dead-letter topic, instead of sending it back
# to a topic a function reads, where it would be refused again without end. Nothing mirrors or
# pushes it; its pull subscription keeps what lands there for people, as long as Pub/Sub allows.
resource "google_pubsub_topic" "dead_letters_parked" {
  name = "dead-letters.parked"
}

resource "google_pubsub_subscription" "dead_letters_parked" {
  name                       = "dead-letters.parked-inspect"
  topic                      = google_pubsub_topic.dead_letters_parked.id
  ack_deadline_seconds       = 60
  message_retention_duration = "2678400s"
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "dead_letters_parked_publisher" {
  topic  = google_pubsub_topic.dead_letters_parked.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.runtime.email}"
}

# The Cloud Run functions' own dead letters go to Pub/Sub topics named as the Kafka ones:
# fulfillment's to checkout.dlq, image-analytics' to images.dlq. No function reads them; a pull
# subscription keeps what lands there for people.
resource "google_pubsub_topic" "function_dead_letters" {
  for_each = toset(["checkout.dlq", "images.dlq"])
  name     = each.value
}

resource "google_pubsub_subscription" "function_dead_letters" {
  for_each                   = google_pubsub_topic.function_dead_letters
  name                       = "${each.value.name}-inspect"
  topic                      = each.value.id
  ack_deadline_seconds       = 60
  message_retention_duration = "2678400s"
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "function_dead_letters_publisher" {
  for_each = google_pubsub_topic.function_dead_letters
  topic    = each.value.name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_bigquery_dataset" "audit" {
  dataset_id = "estate_audit"
  location   = "EU"
}

# The audit log as a table: Hive partitions topic=…/dt=… become columns.
resource "google_bigquery_table" "audit_events" {
  dataset_id          = google_bigquery_dataset.audit.dataset_id
  table_id            = "events"
  deletion_protection = true
  external_data_configuration {
    source_format = "NEWLINE_DELIMITED_JSON"
    autodetect    = true
    source_uris   = ["gs://${google_storage_bucket.audit.name}/audit/*"]
    hive_partitioning_options {
      mode              = "AUTO"
      source_uri_prefix = "gs://${google_storage_bucket.audit.name}/audit/"
    }
  }
}
