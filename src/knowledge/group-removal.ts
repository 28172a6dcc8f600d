import { GroupInUse, type GroupRemoval } from '../identity/groups-service.js';
import type { TenantTx } from '../platform/db/database.js';
import { documentsOnlyInGroup, removeGroupFromDocuments } from './store.js';

const SHOWN = 100;

/**
 * What deleting a group does to documents: it is taken out of every document filed under it (and
 * their chunks' copy), inside the group's deleting transaction. A document filed under that group
 * alone would be left with none, which means tenant-wide, so the deletion is refused while any
 * exists: those documents must be deleted first (document managers see them all).
 */
export const documentGroupRemoval: GroupRemoval = {
  async assertRemovable(tx: TenantTx, group: string): Promise<void> {
    const only = await documentsOnlyInGroup(tx, group, SHOWN);
    if (only.total === 0) return;
    throw new GroupInUse(
      `${only.total} document(s) are filed under group '${group}' alone; deleting the group would make them visible tenant-wide. Delete those documents first.`,
      { documents: only.ids, documentCount: only.total },
    );
  },

  async remove(tx: TenantTx, group: string): Promise<number> {
    const changed = await removeGroupFromDocuments(tx, group);
    if (!changed)
      throw new GroupInUse(
        `Removing group '${group}' would make a document identical to one already filed under its remaining groups. Delete one of the two first.`,
        {},
      );
    return changed.length;
  },
};
