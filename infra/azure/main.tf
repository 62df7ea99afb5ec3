# Azure side of the merchandising flow: the Cosmos DB projections container, the Linux Functions
# app hosting projection-updater as a custom handler (Kafka triggers need Premium), and the Key
# Vault from which the app reads the Cosmos key with its managed identity.
terraform {
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "~> 4.0" }
  }
}

provider "azurerm" {
  features {}
}

variable "location" {
  type    = string
  default = "westeurope"
}
variable "name_prefix" {
  type    = string
  default = "estate"
}
variable "kafka_bootstrap_servers" { type = string }

resource "azurerm_resource_group" "estate" {
  name     = "${var.name_prefix}-merch"
  location = var.location
}

resource "azurerm_cosmosdb_account" "merch" {
  name                = "${var.name_prefix}-merch-cosmos"
  location            = azurerm_resource_group.estate.location
  resource_group_name = azurerm_resource_group.estate.name
  offer_type          = "Standard"
  kind                = "GlobalDocumentDB"
  consistency_policy {
    consistency_level = "Session"
  }
  geo_location {
    location          = azurerm_resource_group.estate.location
    failover_priority = 0
  }
}

resource "azurerm_cosmosdb_sql_database" "merch" {
  name                = "merch"
  resource_group_name = azurerm_resource_group.estate.name
  account_name        = azurerm_cosmosdb_account.merch.name
}

resource "azurerm_cosmosdb_sql_container" "projections" {
  name                = "projections"
  resource_group_name = azurerm_resource_group.estate.name
  account_name        = azurerm_cosmosdb_account.merch.name
  database_name       = azurerm_cosmosdb_sql_database.merch.name
  partition_key_paths = ["/sku"]
  autoscale_settings {
    max_throughput = 4000
  }
}

data "azurerm_client_config" "current" {}

# The Cosmos key is kept in Key Vault rather than in the function app's settings; the app reads it
# with its managed identity (see azurerm_linux_function_app below). RBAC authorization, so access is
# granted by role assignments instead of vault access policies. Purge protection keeps a deleted
# vault and its secrets recoverable for the retention period (the provider recovers a soft-deleted
# vault of the same name on the next apply).
resource "azurerm_key_vault" "merch" {
  name                       = "${var.name_prefix}-merch-kv"
  location                   = azurerm_resource_group.estate.location
  resource_group_name        = azurerm_resource_group.estate.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  enable_rbac_authorization  = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 30
}

# With RBAC authorization, writing secrets is a data-plane permission that Owner or Contributor on
# the subscription does not include: the principal running Terraform gets it on this vault.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.merch.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_key_vault_secret" "cosmos_key" {
  name         = "cosmos-primary-key"
  value        = azurerm_cosmosdb_account.merch.primary_key
  key_vault_id = azurerm_key_vault.merch.id
  content_type = "Cosmos DB account key"

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

resource "azurerm_storage_account" "functions" {
  name                     = "${var.name_prefix}merchfn"
  resource_group_name      = azurerm_resource_group.estate.name
  location                 = azurerm_resource_group.estate.location
  account_tier             = "Standard"
  account_replication_type = "LRS"
}

resource "azurerm_service_plan" "functions" {
  name                = "${var.name_prefix}-merch-plan"
  resource_group_name = azurerm_resource_group.estate.name
  location            = azurerm_resource_group.estate.location
  os_type             = "Linux"
  sku_name            = "EP1"
}

resource "azurerm_linux_function_app" "projection_updater" {
  name                       = "${var.name_prefix}-projection-updater"
  resource_group_name        = azurerm_resource_group.estate.name
  location                   = azurerm_resource_group.estate.location
  service_plan_id            = azurerm_service_plan.functions.id
  storage_account_name       = azurerm_storage_account.functions.name
  storage_account_access_key = azurerm_storage_account.functions.primary_access_key
  # The identity that resolves the Key Vault reference below. System-assigned is what App Service
  # uses for references by default, so key_vault_reference_identity_id stays unset.
  identity {
    type = "SystemAssigned"
  }
  site_config {
    # Kafka triggers scale with runtime scale monitoring on Premium plans.
    runtime_scale_monitoring_enabled = true
  }
  # COSMOS_KEY is a Key Vault reference: the platform resolves it into the environment, so the
  # handler still reads a plain COSMOS_KEY while the key itself stays out of the app's config.
  # The versionless URI follows rotation (App Service re-reads references within 24 hours and on
  # restart); a reference that cannot be resolved is passed through as the literal text.
  app_settings = {
    FUNCTIONS_WORKER_RUNTIME = "custom"
    KAFKA_BOOTSTRAP_SERVERS  = var.kafka_bootstrap_servers
    COSMOS_ENDPOINT          = azurerm_cosmosdb_account.merch.endpoint
    COSMOS_KEY               = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.cosmos_key.versionless_id})"
    COSMOS_DATABASE          = azurerm_cosmosdb_sql_database.merch.name
    COSMOS_CONTAINER         = azurerm_cosmosdb_sql_container.projections.name
  }
}

# Read access for the app's identity. ServicePrincipal is stated so that the assignment does not
# wait on directory replication of the freshly created identity.
resource "azurerm_role_assignment" "projection_updater_secrets_user" {
  scope                = azurerm_key_vault.merch.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_linux_function_app.projection_updater.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}
