// Log Analytics + workspace-based Application Insights (local auth off: the app sends telemetry
// with its managed identity), the alerts docs/deployment.md lists (poison queue, renewal failures)
// and the safety net of docs/operations.md (a certificate closer to expiry than half its renewal window, or a
// scheduler that stopped ticking).

@description('Required. Log Analytics workspace name.')
param logAnalyticsName string

@description('Required. Application Insights component name.')
param applicationInsightsName string

@description('Required. Azure region.')
param location string

@description('Optional. Tags for every resource.')
param tags object = {}

@description('Optional. Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Optional. Email addresses the alerts notify. Empty: the alerts fire in Azure Monitor without notifying anyone.')
param alertEmailAddresses string[] = []

@description('Optional. Names of the storage queues whose poison messages raise an alert (one per renewal stage).')
param poisonQueueNames string[] = [
  'renewal-requests-poison'
  'renewal-confirmations-poison'
]

@description('Optional. Alert when no scheduler tick was logged for this long (ISO 8601 duration). Default PT1H.')
param schedulerSilenceWindow string = 'PT1H'

@description('Optional. Alert when the scheduler\'s tick fails for the same app in this many ticks within tickFailureWindow. Default 3 (of the 4 ticks an hour of the default 15-minute schedule).')
@minValue(1)
param tickFailureCount int = 3

@description('Optional. The window of tickFailureCount (ISO 8601 duration). Default PT1H.')
param tickFailureWindow string = 'PT1H'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Telemetry is accepted only with a Microsoft Entra token (Monitoring Metrics Publisher).
    DisableLocalAuth: true
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmailAddresses)) {
  name: 'ag-${applicationInsightsName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'certrotator'
    enabled: true
    emailReceivers: [
      for (address, i) in alertEmailAddresses: {
        name: 'email-${i}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
  }
}

var alertActions = empty(alertEmailAddresses)
  ? {}
  : {
      actionGroups: [
        actionGroup.id
      ]
    }

// A metric alert cannot see one queue: Storage's queue metrics (QueueMessageCount) are per account,
// with no queue-name dimension. What does name the queue is the Functions host's own warning when
// it gives up on a message, "Message has reached MaxDequeueCount of N. Moving message to queue
// 'renewal-requests-poison'." (Azure WebJobs SDK QueueProcessor), which lands in `traces`.
var poisonQuery = '''
traces
| where message contains "Moving message to queue '"
| extend queue = extract("Moving message to queue '([^']+)'", 1, message)
| where queue in ({queues})
| project timestamp, queue, message, operation_Id
'''
var poisonQueueList = join(map(poisonQueueNames, name => '"${name}"'), ', ')

// The renewal use case's failure line (renewalService.ts recordFailure, once per renewal that
// failed for good): "renewal failed: app …", its fields as JSON after the text (invocationLog.ts:
// context.log sets no custom dimensions in the Node.js model). The JSON is found by its first key,
// as the error text before it may hold braces of its own.
var renewalFailedQuery = '''
traces
| where message startswith "renewal failed"
| extend fields = parse_json(substring(message, indexof(message, '{"appId":')))
| project timestamp, appId = tostring(fields.appId), renewalId = tostring(fields.renewalId), stage = tostring(fields.stage), error = tostring(fields.error), operation_Id
'''

// The scheduler's per-app failure line (renewalScheduler.ts Tick.failed): "scheduler: <stage>
// failed for app <appId>: <cause>", fields as JSON after the text. Counted in distinct ticks (one
// operation_Id per timer run), so an app whose checks fail tick after tick is told apart from one
// bad tick, and from a tick that logged several stages for it.
var tickFailuresQuery = '''
traces
| where message startswith "scheduler: " and message contains " failed for app "
| extend fields = parse_json(substring(message, indexof(message, '{"appId":')))
| where tostring(fields.outcome) == "failed"
| extend appId = tostring(fields.appId), stage = tostring(fields.stage), cause = tostring(fields.cause)
| summarize failedTicks = dcount(operation_Id), stages = make_set(stage), cause = take_any(cause) by appId
'''

// The scheduler's `certificate days left` line for each app a tick reads, its fields as JSON after
// the text (src/lib/logging/invocationLog.ts: context.log sets no custom dimensions in the Node.js
// model). An enabled app with less than half its renewal window left (windowRemainingFraction,
// src/lib/renewal/decide/certificateExpiry.ts) is always due, so every tick logs it: by then a
// renewal should long have replaced its certificate, whatever the pipeline says about itself.
var expiryAtRiskQuery = '''
traces
| where message startswith "certificate days left"
| extend fields = parse_json(substring(message, indexof(message, "{")))
| extend appId = tostring(fields.appId), outcome = tostring(fields.outcome), daysLeft = todouble(fields.daysLeft), renewBeforeDays = toint(fields.renewBeforeDays), windowRemainingFraction = todouble(fields.windowRemainingFraction)
| where outcome != "disabled" and windowRemainingFraction < 0.5
| summarize daysLeft = min(daysLeft), windowRemainingFraction = min(windowRemainingFraction), renewBeforeDays = max(renewBeforeDays) by appId
'''

// The timer's summary line, written at the end of every tick ("scheduler tick: {…}"). None for an
// hour while the schedule fires every 15 minutes means no tick ran: nothing is being renewed and
// the expiry alert above cannot fire either.
var schedulerTickQuery = '''
traces
| where message startswith "scheduler tick"
'''

resource poisonQueueAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${applicationInsightsName}-poison-queue'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Entra Cert Rotator: renewal request moved to a poison queue'
    description: 'A renewal request exhausted its queue retries and landed in ${join(poisonQueueNames, ' or ')}. The renewal is recorded as failed; see the app\'s history and the traces around this message.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT10M'
    windowSize: 'PT10M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: replace(poisonQuery, '{queues}', poisonQueueList)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: alertActions
  }
}

resource renewalFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${applicationInsightsName}-renewal-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Entra Cert Rotator: certificate renewal failed'
    description: 'A certificate renewal failed after its last attempt. The app\'s admins were emailed and an EntraCertRotator.CertificateRenewalFailed event was published.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT10M'
    windowSize: 'PT10M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: renewalFailedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: alertActions
  }
}

resource tickFailuresAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${applicationInsightsName}-tick-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Entra Cert Rotator: the scheduler keeps failing for an app'
    description: 'The scheduler\'s tick failed for the same app in ${tickFailureCount} or more ticks within ${tickFailureWindow} (a Graph or Key Vault refusal, a queue that does not answer, a stored row that does not read). Its renewals and checks are not happening; the traces "scheduler: <stage> failed for app <appId>: <cause>" say why.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: tickFailureWindow
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: tickFailuresQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failedTicks'
          // One alert per app, resolved once its ticks stop failing.
          dimensions: [
            {
              name: 'appId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThanOrEqual'
          threshold: tickFailureCount
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: alertActions
  }
}

resource expiryAtRiskAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${applicationInsightsName}-expiry-at-risk'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Entra Cert Rotator: a certificate is closer to expiry than half its renewal window'
    description: 'A managed app still runs on a certificate with less than half its renewal window (renewBeforeDays) left. Renewals for it have not succeeded; see the app\'s state and history before the certificate expires.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    // A tick logs each such app; the window in which a tick must have run (the silence alert's)
    // keeps the alert from resolving between two ticks of a sparse schedule.
    windowSize: schedulerSilenceWindow
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: expiryAtRiskQuery
          timeAggregation: 'Count'
          // One alert per app, resolved when its lines stop saying so.
          dimensions: [
            {
              name: 'appId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: alertActions
  }
}

resource schedulerSilentAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${applicationInsightsName}-scheduler-silent'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Entra Cert Rotator: the renewal scheduler has stopped'
    description: 'No scheduler tick was logged for ${schedulerSilenceWindow}. No certificate is being renewed; check that the Function App is running and can reach its storage.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: schedulerSilenceWindow
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: schedulerTickQuery
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: alertActions
  }
}

@description('The Application Insights component name.')
output applicationInsightsName string = applicationInsights.name

@description('The Application Insights component resource id.')
output applicationInsightsResourceId string = applicationInsights.id

@description('The Application Insights connection string (not a secret: ingestion needs a Microsoft Entra token).')
output connectionString string = applicationInsights.properties.ConnectionString

@description('The Log Analytics workspace resource id.')
output workspaceResourceId string = workspace.id
