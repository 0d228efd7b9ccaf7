//! Tables a connector keeps beside the user's data (commit tokens, run
//! leases, dead letters), which several streams or runs may create at once.

use tokio_postgres::Client;

use crate::catalog::relation_exists;

/// Runs `ddl`, a `CREATE TABLE IF NOT EXISTS` of `qualified` that other
/// streams (or runs) may run at the same moment: the loser's CREATE fails on
/// the catalog's unique index, which is fine once the table exists. Inside a
/// transaction (`in_transaction`) it runs in a savepoint, so losing the race
/// does not abort the transaction.
pub async fn create_shared_table(client: &Client, ddl: &str, qualified: &str, in_transaction: bool) -> Result<(), tokio_postgres::Error> {
    if in_transaction {
        client.batch_execute("SAVEPOINT rapidbyte_ddl").await?;
    }
    match client.batch_execute(ddl).await {
        Ok(()) if in_transaction => client.batch_execute("RELEASE SAVEPOINT rapidbyte_ddl").await,
        Ok(()) => Ok(()),
        Err(e) => {
            if in_transaction {
                client.batch_execute("ROLLBACK TO SAVEPOINT rapidbyte_ddl").await?;
            }
            if relation_exists(client, qualified).await? { Ok(()) } else { Err(e) }
        }
    }
}
