package syncstore

import "github.com/syncproxy/syncproxy/gen/api"

func emptyPushResponse(now api.Timestamp) api.SyncPushResponse {
	return api.SyncPushResponse{Ok: true, ServerTime: now}
}

// setCount records n for table in the generated per-table counts.
func setCount(c *api.TableCounts, table api.TableName, n int) {
	switch table {
	case api.TableNameContractors:
		c.Contractors = n
	case api.TableNameCostbookFolders:
		c.CostbookFolders = n
	case api.TableNameCostbookItems:
		c.CostbookItems = n
	case api.TableNameEstimates:
		c.Estimates = n
	case api.TableNameEstimateEvents:
		c.EstimateEvents = n
	case api.TableNamePdfSettings:
		c.PdfSettings = n
	case api.TableNamePricingRules:
		c.PricingRules = n
	case api.TableNameStepAConfigs:
		c.StepAConfigs = n
	case api.TableNameStepARules:
		c.StepARules = n
	}
}

func setDeleteCount(c *api.DeleteCounts, table api.TableName, n int) {
	switch table {
	case api.TableNameCostbookFolders:
		c.CostbookFolders = n
	case api.TableNameCostbookItems:
		c.CostbookItems = n
	case api.TableNameEstimates:
		c.Estimates = n
	case api.TableNameEstimateEvents:
		c.EstimateEvents = n
	case api.TableNamePricingRules:
		c.PricingRules = n
	case api.TableNameStepARules:
		c.StepARules = n
	}
}
