# Azure side of the merchandising flow: the Cosmos DB projections container and the Linux
# Functions app hosting projection-updater as a custom handler (Kafka triggers need Premium).
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
  site_config {
    # Kafka triggers scale with runtime scale monitoring on Premium plans.
    runtime_scale_monitoring_enabled = true
  }
  app_settings = {
    FUNCTIONS_WORKER_RUNTIME = "custom"
    KAFKA_BOOTSTRAP_SERVERS  = var.kafka_bootstrap_servers
    COSMOS_ENDPOINT          = azurerm_cosmosdb_account.merch.endpoint
    COSMOS_KEY               = azurerm_cosmosdb_account.merch.primary_key
    COSMOS_DATABASE          = azurerm_cosmosdb_sql_database.merch.name
    COSMOS_CONTAINER         = azurerm_cosmosdb_sql_container.projections.name
  }
}
