import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aclGrants, closedAncestors, hostUidOf, hubAclArgs, onlyOthersFiles } from '../lib/hub/access.ts';
import { tmpDir } from './helpers.ts';

describe('hub access through ACLs', () => {
  it('maps a container uid to its host uid through the id map', () => {
    const map = JSON.stringify([{ Isuid: true, Isgid: false, Hostid: 100000, Nsid: 0, Maprange: 65536 }, { Isuid: false, Isgid: true, Hostid: 100000, Nsid: 0, Maprange: 65536 }]);
    expect(hostUidOf({ 'volatile.idmap.current': map }, 1000)).toBe(101000);
    expect(() => hostUidOf({}, 1000)).toThrow(/no id map/);
  });

  it('grants read on the hub, and nothing more (pushes go through the smart-HTTP endpoint)', () => {
    expect(hubAclArgs('/h/p.git', 101000, 1000)).toEqual(['-R', '-m', 'u:101000:rX,d:u:101000:rX,d:u:1000:rwX,m::rwx,d:m::rwx', '/h/p.git']);
  });

  it('reads an existing grant from getfacl output', () => {
    const out = 'user::rwx\nuser:101000:r-x\t#effective:r-x\ngroup::rwx\nmask::rwx\nother::r-x\ndefault:user:101000:r-x\n';
    expect(aclGrants(out, 101000)).toBe(true);
    // A write grant from before pushes went through the endpoint is taken back to read.
    expect(aclGrants(out.replace(/101000:r-x/g, '101000:rwx'), 101000)).toBe(false);
    expect(aclGrants(out, 101001)).toBe(false);
  });

  it('treats "not permitted" on files of another owner, and only those, as fine', () => {
    const dir = tmpDir();
    const mine = path.join(dir, 'mine');
    fs.writeFileSync(mine, '');
    const owner = fs.statSync(mine).uid;
    expect(onlyOthersFiles(`setfacl: ${mine}: Operation not permitted\n`, owner)).toBe(false);
    expect(onlyOthersFiles(`setfacl: ${mine}: Operation not permitted\n`, owner + 1)).toBe(true);
    expect(onlyOthersFiles('setfacl: /x: Operation not supported\n', owner)).toBe(false);
    expect(onlyOthersFiles('', owner)).toBe(false);
  });

  it('lists the parents others may not enter', () => {
    const dir = tmpDir();
    const closed = path.join(dir, 'closed');
    fs.mkdirSync(path.join(closed, 'hub.git'), { recursive: true });
    fs.chmodSync(closed, 0o750);
    expect(closedAncestors(path.join(closed, 'hub.git'))).toContain(closed);
  });
});
